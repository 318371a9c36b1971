output "environment_arn" {
  description = "ARN of the MWAA environment."
  value       = aws_mwaa_environment.this.arn
}

output "environment_name" {
  description = "Name of the MWAA environment."
  value       = aws_mwaa_environment.this.name
}

output "webserver_url" {
  description = "Private URL of the Airflow UI."
  value       = aws_mwaa_environment.this.webserver_url
}

output "dags_bucket_name" {
  description = "Bucket graphbuild deploy uploads the DAGs to."
  value       = aws_s3_bucket.dags.bucket
}

output "dags_bucket_arn" {
  description = "ARN of the DAG bucket."
  value       = aws_s3_bucket.dags.arn
}

output "execution_role_arn" {
  description = "Execution role of the environment."
  value       = aws_iam_role.execution.arn
}

output "security_group_id" {
  description = "Security group of the environment (an MSK client)."
  value       = aws_security_group.mwaa.id
}
