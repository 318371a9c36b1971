output "bucket_name" {
  description = "Name of the audit log bucket (graphbuild.toml [audit] bucket)."
  value       = aws_s3_bucket.audit.bucket
}

output "bucket_arn" {
  description = "ARN of the audit log bucket."
  value       = aws_s3_bucket.audit.arn
}
