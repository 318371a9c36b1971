output "bucket_names" {
  description = "Bucket name of each zone."
  value       = { for zone, bucket in aws_s3_bucket.zone : zone => bucket.bucket }
}

output "bucket_arns" {
  description = "Bucket ARN of each zone."
  value       = { for zone, bucket in aws_s3_bucket.zone : zone => bucket.arn }
}

output "glue_database_name" {
  description = "Glue database of the lake tables."
  value       = aws_glue_catalog_database.lake.name
}

output "glue_database_arn" {
  description = "ARN of the Glue database of the lake tables."
  value       = aws_glue_catalog_database.lake.arn
}
