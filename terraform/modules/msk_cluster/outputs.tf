output "cluster_arn" {
  description = "ARN of the cluster."
  value       = aws_msk_cluster.this.arn
}

output "cluster_name" {
  description = "Name of the cluster."
  value       = aws_msk_cluster.this.cluster_name
}

output "bootstrap_brokers_sasl_iam" {
  description = "Bootstrap servers for IAM-authenticated clients."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_iam
}

output "security_group_id" {
  description = "Security group of the brokers."
  value       = aws_security_group.brokers.id
}
