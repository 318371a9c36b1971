output "application_ids" {
  description = "Id of each application."
  value       = { for name, app in aws_emrserverless_application.spark : name => app.id }
}

output "application_arns" {
  description = "ARN of each application."
  value       = { for name, app in aws_emrserverless_application.spark : name => app.arn }
}

output "job_role_arn" {
  description = "Execution role of the Spark jobs."
  value       = aws_iam_role.job.arn
}

output "security_group_id" {
  description = "Security group of the workers (an MSK client)."
  value       = aws_security_group.jobs.id
}

output "log_group_name" {
  description = "CloudWatch log group of the jobs."
  value       = aws_cloudwatch_log_group.jobs.name
}
