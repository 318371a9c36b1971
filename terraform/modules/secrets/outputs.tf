output "secret_arns" {
  description = "ARN of each secret, by its name under the environment prefix."
  value       = { for name, secret in aws_secretsmanager_secret.this : name => secret.arn }
}

output "secret_names" {
  description = "Full name of each secret."
  value       = { for name, secret in aws_secretsmanager_secret.this : name => secret.name }
}

output "airflow_connections_prefix" {
  description = "connections_prefix of the MWAA Secrets Manager backend."
  value       = "${local.prefix}/airflow/connections"
}

output "airflow_variables_prefix" {
  description = "variables_prefix of the MWAA Secrets Manager backend."
  value       = "${local.prefix}/airflow/variables"
}
