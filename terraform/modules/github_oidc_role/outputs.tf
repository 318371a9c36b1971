output "role_arn" {
  description = "ARN of the deploy role (the role-to-assume of aws-actions/configure-aws-credentials)."
  value       = aws_iam_role.deploy.arn
}

output "role_name" {
  description = "Name of the deploy role."
  value       = aws_iam_role.deploy.name
}

output "oidc_provider_arn" {
  description = "ARN of the GitHub Actions OIDC provider of this account."
  value       = aws_iam_openid_connect_provider.github.arn
}

output "github_subject" {
  description = "The only token subject the role trusts."
  value       = local.github_subject
}
