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

variable "kafka_version" {
  description = "Apache Kafka version of the brokers."
  type        = string
  default     = "3.6.0"
}

variable "broker_instance_type" {
  description = "Broker instance type."
  type        = string
  default     = "kafka.m7g.large"
}

variable "broker_count" {
  description = "Number of brokers; a multiple of the number of subnets (one per availability zone)."
  type        = number
  default     = 3
}

variable "broker_volume_size_gb" {
  description = "EBS volume per broker, in GiB."
  type        = number
  default     = 1000
}

variable "vpc_id" {
  description = "VPC of the platform."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets, one per availability zone."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 3
    error_message = "brokers span three availability zones."
  }
}

variable "client_security_group_ids" {
  description = "Security groups of the clients allowed to connect (EMR Serverless, MWAA)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "ARN of the KMS key for data at rest and the broker logs."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the broker logs."
  type        = number
  default     = 90
}
