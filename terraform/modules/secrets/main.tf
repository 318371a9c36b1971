# Secrets Manager entries of the platform: names, descriptions and encryption only. Values never
# pass through Terraform (they would land in the state file): the owning team sets them with
# `aws secretsmanager put-secret-value` or they are rotated in place by the owning service.
# Airflow reads connections and variables under <prefix>/airflow/ through the MWAA secrets backend.

locals {
  prefix = "finsight/${var.environment}"
}

resource "aws_secretsmanager_secret" "this" {
  for_each = var.secrets

  name                    = "${local.prefix}/${each.key}"
  description             = "${each.value.description} Owner: ${each.value.owner}."
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days
  tags                    = merge(var.tags, { SecretOwner = each.value.owner })
}
