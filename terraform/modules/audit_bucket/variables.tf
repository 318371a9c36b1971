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
  description = "Prefix of the bucket name."
  type        = string
  default     = "finsight"
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the audit log (a key of its own, not shared with the lake)."
  type        = string
}

variable "retention_days" {
  description = "Object Lock COMPLIANCE retention of every object version. Cannot be shortened for objects already written."
  type        = number

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 3650
    error_message = "retention_days must be between 1 and 3650."
  }
}

variable "writer_role_arns" {
  description = "Roles allowed to append audit events (the deploy roles)."
  type        = list(string)

  validation {
    condition     = length(var.writer_role_arns) > 0
    error_message = "at least one writer role is required."
  }
}
