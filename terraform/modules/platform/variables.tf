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

variable "vpc_name" {
  description = "Name tag of the platform VPC (owned by the network stack); its subnets tagged Tier = private are used."
  type        = string
}

variable "deploy_role_arns" {
  description = "The environment's deploy roles: the only principals that may append to the audit log."
  type        = list(string)
}

variable "kafka_topic_partitions" {
  description = "Partitions of every topic of kafka/topics; prod has those of its topic.toml, the others at most as many."
  type        = map(number)

  validation {
    condition     = length(var.kafka_topic_partitions) == length(local.kafka_topics) && alltrue([for name in keys(local.kafka_topics) : contains(keys(var.kafka_topic_partitions), name)])
    error_message = "kafka_topic_partitions must name every topic of local.kafka_topics, and only those."
  }

  validation {
    condition     = alltrue([for n in values(var.kafka_topic_partitions) : n >= 1 && floor(n) == n])
    error_message = "partitions are positive whole numbers."
  }
}

variable "msk_brokers" {
  description = "MSK brokers: instance type, count (spread over three availability zones) and EBS volume per broker in GiB."
  type = object({
    instance_type  = string
    count          = number
    volume_size_gb = number
  })

  validation {
    condition     = var.msk_brokers.count >= 3 && var.msk_brokers.count % 3 == 0
    error_message = "msk_brokers.count must be a multiple of the three availability zones."
  }
}

variable "emr_applications" {
  description = "EMR Serverless capacity of the batch and streaming applications; idle_timeout_minutes = null keeps one running."
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
    condition     = length(var.emr_applications) == 2 && alltrue([for name in ["batch", "streaming"] : contains(keys(var.emr_applications), name)])
    error_message = "emr_applications are batch and streaming."
  }
}

variable "mwaa_capacity" {
  description = "MWAA environment class, worker autoscaling bounds and schedulers."
  type = object({
    environment_class = string
    min_workers       = number
    max_workers       = number
    schedulers        = number
  })

  validation {
    condition     = var.mwaa_capacity.min_workers >= 1 && var.mwaa_capacity.min_workers <= var.mwaa_capacity.max_workers
    error_message = "mwaa_capacity needs 1 <= min_workers <= max_workers."
  }

  validation {
    condition     = var.mwaa_capacity.schedulers >= 2 && var.mwaa_capacity.schedulers <= 5
    error_message = "mwaa_capacity.schedulers must be 2 to 5."
  }
}

variable "retention_days" {
  description = "Days kept: logs (MSK broker and EMR job logs) and audit_log (Object Lock COMPLIANCE retention)."
  type = object({
    logs      = number
    audit_log = number
  })

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.retention_days.logs)
    error_message = "retention_days.logs must be a CloudWatch Logs retention period."
  }

  validation {
    condition     = var.environment != "prod" || var.retention_days.audit_log >= 2557
    error_message = "retention_days.audit_log must be at least seven years (2557 days) in prod (SOX)."
  }
}
