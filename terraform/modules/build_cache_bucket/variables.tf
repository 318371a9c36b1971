variable "environment" {
  description = "Deployment environment: dev, staging or prod."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "tags" {
  description = "Tags for every taggable resource; must carry Project, Environment, Owner and DataClassification."
  type        = map(string)

  validation {
    condition     = alltrue([for key in ["Project", "Environment", "Owner", "DataClassification"] : contains(keys(var.tags), key)])
    error_message = "tags must include Project, Environment, Owner and DataClassification."
  }
}

variable "name_prefix" {
  description = "Prefix of the bucket and role names."
  type        = string
  default     = "finsight"
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts cache entries."
  type        = string
}

variable "expiration_days" {
  description = "Days after which a cache entry is deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.expiration_days >= 1 && var.expiration_days <= 90
    error_message = "expiration_days must be between 1 and 90."
  }
}

variable "github_oidc_provider_arn" {
  description = "ARN of the token.actions.githubusercontent.com OIDC provider of this account."
  type        = string
}

variable "writer_subjects" {
  description = "GitHub OIDC subjects (sub claims) allowed to write, e.g. repo:finsight/data-platform:ref:refs/heads/main."
  type        = list(string)

  validation {
    condition     = length(var.writer_subjects) > 0 && alltrue([for sub in var.writer_subjects : can(regex("^repo:finsight/data-platform:[^*?]+$", sub))])
    error_message = "writer_subjects must be exact subjects of the finsight/data-platform repository, without wildcards."
  }
}

variable "reader_subjects" {
  description = "GitHub OIDC subjects allowed to read only, e.g. repo:finsight/data-platform:pull_request."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for sub in var.reader_subjects : can(regex("^repo:finsight/data-platform:[^*?]+$", sub))])
    error_message = "reader_subjects must be exact subjects of the finsight/data-platform repository, without wildcards."
  }
}

variable "signing_key_secret_arn" {
  description = "Secrets Manager secret of the HMAC key that signs cache results; writers sign, readers verify."
  type        = string

  validation {
    condition     = can(regex("^arn:aws:secretsmanager:", var.signing_key_secret_arn))
    error_message = "signing_key_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "reader_sso_role_name_patterns" {
  description = "Names (with wildcards) of the IAM Identity Center roles allowed to read."
  type        = list(string)
  default     = ["AWSReservedSSO_DataEngineer_*", "AWSReservedSSO_PlatformEngineer_*"]
}
