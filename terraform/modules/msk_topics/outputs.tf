output "topic_arns" {
  description = "ARN of each topic."
  value       = local.topic_arns
}

output "produce_policy_arns" {
  description = "Policy to produce to each topic."
  value       = { for name, policy in aws_iam_policy.produce : name => policy.arn }
}

output "consume_policy_arns" {
  description = "Policy to consume each topic."
  value       = { for name, policy in aws_iam_policy.consume : name => policy.arn }
}

output "admin_policy_arn" {
  description = "Policy to create and alter the declared topics (for the deploy role)."
  value       = aws_iam_policy.admin.arn
}

output "manifest_parameter_name" {
  description = "SSM parameter holding the topic manifest."
  value       = aws_ssm_parameter.manifest.name
}
