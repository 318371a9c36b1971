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
  description = "ARN of the KMS key that encrypts the artifacts."
  type        = string
}

variable "noncurrent_version_expiration_days" {
  description = "Days an overwritten object version is kept (state pointers and journals are overwritten on every deploy)."
  type        = number
  default     = 400

  validation {
    condition     = var.noncurrent_version_expiration_days >= 30
    error_message = "keep overwritten versions for at least 30 days."
  }
}
