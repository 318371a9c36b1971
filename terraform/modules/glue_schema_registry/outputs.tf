output "registry_arn" {
  description = "ARN of the registry."
  value       = aws_glue_registry.this.arn
}

output "registry_name" {
  description = "Name of the registry."
  value       = aws_glue_registry.this.registry_name
}

output "schema_arns" {
  description = "ARN of each topic's schema."
  value       = { for topic, schema in aws_glue_schema.topic : topic => schema.arn }
}

output "latest_schema_versions" {
  description = "Latest registered version number of each topic's schema."
  value       = { for topic, schema in aws_glue_schema.topic : topic => schema.latest_schema_version }
}
