output "bucket_name" {
  description = "Name of the build cache bucket (graphbuild.toml [cache] s3 bucket)."
  value       = aws_s3_bucket.cache.bucket
}

output "bucket_arn" {
  description = "ARN of the build cache bucket."
  value       = aws_s3_bucket.cache.arn
}

output "writer_role_arn" {
  description = "Role CI assumes to read and write the cache."
  value       = aws_iam_role.writer.arn
}

output "reader_role_arn" {
  description = "Role engineers assume to read the cache."
  value       = aws_iam_role.reader.arn
}

output "ci_reader_role_arn" {
  description = "Role pull-request CI assumes to read the cache (null when no reader subjects are given)."
  value       = length(aws_iam_role.ci_reader) > 0 ? aws_iam_role.ci_reader[0].arn : null
}
