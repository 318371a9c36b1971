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

variable "cluster_arn" {
  description = "ARN of the MSK cluster."
  type        = string
}

variable "consumer_group_prefix" {
  description = "Consumer groups the consume policies allow, as a prefix."
  type        = string
  default     = "finsight-"
}

variable "topics" {
  description = "Topics by name, with the settings of their kafka/topics/<topic>/topic.toml."
  type = map(object({
    partitions          = number
    replication_factor  = number
    retention_ms        = number
    cleanup_policy      = string
    min_insync_replicas = number
  }))

  validation {
    condition     = alltrue([for name in keys(var.topics) : can(regex("^[a-z]+\\.[a-z_]+\\.v[0-9]+$", name))])
    error_message = "topic names follow <domain>.<entity>.v<major>."
  }

  validation {
    condition     = alltrue([for t in values(var.topics) : contains(["delete", "compact", "compact,delete"], t.cleanup_policy)])
    error_message = "cleanup_policy must be delete, compact or compact,delete."
  }

  validation {
    condition     = alltrue([for t in values(var.topics) : t.partitions >= 1 && t.min_insync_replicas < t.replication_factor])
    error_message = "partitions must be positive and min_insync_replicas below replication_factor."
  }
}
