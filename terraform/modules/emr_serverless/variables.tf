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

variable "release_label" {
  description = "EMR release of the applications (Spark version)."
  type        = string
  default     = "emr-7.9.0"
}

variable "applications" {
  description = "Applications by name. idle_timeout_minutes = null keeps the application running."
  type = map(object({
    initial_drivers      = number
    initial_executors    = number
    worker_cpu           = string
    worker_memory        = string
    max_cpu              = string
    max_memory           = string
    max_disk             = string
    idle_timeout_minutes = optional(number)
  }))

  validation {
    condition     = alltrue([for name in keys(var.applications) : contains(["batch", "streaming"], name)])
    error_message = "applications are batch and streaming."
  }
}

variable "vpc_id" {
  description = "VPC of the platform."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the workers."
  type        = list(string)
}

variable "lake_bucket_arns" {
  description = "Lake buckets the jobs read and write."
  type        = list(string)
}

variable "artifact_bucket_arn" {
  description = "Artifact store holding the job packages."
  type        = string
}

variable "glue_database_name" {
  description = "Glue database of the lake tables."
  type        = string
  default     = "lake"
}

variable "kms_key_arns" {
  description = "Keys of the lake and the artifact store."
  type        = list(string)
}

variable "logs_kms_key_arn" {
  description = "Key of the job log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the job logs."
  type        = number
  default     = 90
}

variable "job_policy_arns" {
  description = "Further policies of the job role by a static key, e.g. Kafka consume policies."
  type        = map(string)
  default     = {}
}
