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
  description = "Prefix of the role name."
  type        = string
  default     = "finsight"
}

variable "github_repository" {
  description = "owner/name of the only repository whose workflows may assume the role."
  type        = string
  default     = "finsight/data-platform"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name, without wildcards."
  }
}

variable "max_session_duration" {
  description = "Longest session, in seconds; a production deploy must finish within 10 minutes."
  type        = number
  default     = 3600
}

variable "state_bucket_name" {
  description = "Bucket of the Terraform state (the backend of the environment's root stack)."
  type        = string
}

variable "read_write_bucket_arns" {
  description = "Buckets the deploy writes releases to: the artifact store and the MWAA DAG bucket."
  type        = list(string)
  default     = []
}

variable "append_only_bucket_arns" {
  description = "Buckets the deploy appends to and never deletes from: the audit log."
  type        = list(string)
  default     = []
}

variable "glue_registry_arn" {
  description = "Glue Schema Registry the deploy registers Avro schema versions in, or null."
  type        = string
  default     = null
}

variable "kms_key_arns" {
  description = "Keys that encrypt the buckets above."
  type        = list(string)
}

variable "managed_policy_arns" {
  description = "Further policies to attach, by a static key (e.g. the MSK topic admin policy)."
  type        = map(string)
  default     = {}
}
