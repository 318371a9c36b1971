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

variable "schemas_root" {
  description = "Folder holding <topic>/schema.avsc; null means the repository's kafka/topics, relative to this module."
  type        = string
  default     = null
}

variable "topics" {
  description = "Topics by name, with the compatibility mode of their topic.toml."
  type = map(object({
    compatibility = string
    description   = string
  }))

  validation {
    condition = alltrue([for t in values(var.topics) : contains(
      ["NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"],
      t.compatibility
    )])
    error_message = "compatibility must be a topic.toml mode: NONE, BACKWARD[_TRANSITIVE], FORWARD[_TRANSITIVE] or FULL[_TRANSITIVE]."
  }
}
