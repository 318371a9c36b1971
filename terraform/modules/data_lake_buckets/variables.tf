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
  description = "Prefix of every bucket name."
  type        = string
  default     = "finsight"
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the lake."
  type        = string
}

variable "glue_database_name" {
  description = "Glue catalog database of the lake tables."
  type        = string
  default     = "lake"
}

variable "zones" {
  description = "Lake zones, one bucket each. Must include raw, clean and curated."
  type = map(object({
    data_classification                = string
    intelligent_tiering_after_days     = number
    noncurrent_version_expiration_days = number
  }))
  default = {
    raw = {
      data_classification                = "restricted"
      intelligent_tiering_after_days     = 30
      noncurrent_version_expiration_days = 30
    }
    clean = {
      data_classification                = "confidential"
      intelligent_tiering_after_days     = 60
      noncurrent_version_expiration_days = 90
    }
    curated = {
      data_classification                = "confidential"
      intelligent_tiering_after_days     = 90
      noncurrent_version_expiration_days = 90
    }
  }

  validation {
    condition     = alltrue([for zone in ["raw", "clean", "curated"] : contains(keys(var.zones), zone)])
    error_message = "zones must include raw, clean and curated."
  }

  validation {
    condition     = alltrue([for cfg in values(var.zones) : contains(["internal", "confidential", "restricted"], cfg.data_classification)])
    error_message = "data_classification must be internal, confidential or restricted."
  }
}
