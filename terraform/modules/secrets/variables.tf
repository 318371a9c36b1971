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

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the secrets."
  type        = string
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can still be restored."
  type        = number
  default     = 30

  validation {
    condition     = var.recovery_window_in_days >= 7 && var.recovery_window_in_days <= 30
    error_message = "recovery_window_in_days must be between 7 and 30."
  }
}

variable "secrets" {
  description = "Secrets by name under finsight/<environment>/, e.g. airflow/connections/snowflake_default."
  type = map(object({
    description = string
    owner       = string
  }))

  validation {
    condition     = alltrue([for name in keys(var.secrets) : can(regex("^[a-z0-9_-]+(/[a-z0-9_-]+)*$", name))])
    error_message = "secret names are lower-case path segments of letters, digits, dashes and underscores."
  }
}
