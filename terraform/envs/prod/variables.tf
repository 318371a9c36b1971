variable "aws_region" {
  description = "Region of the environment."
  type        = string
  default     = "eu-west-1"
}

variable "aws_account_id" {
  description = "The environment's own AWS account: the provider refuses credentials of any other."
  type        = string
}

variable "platform_vpc_name" {
  description = "Name tag of the platform VPC (owned by the network stack)."
  type        = string
}

# Sizes and retention, typed and validated by modules/platform/variables.tf.

variable "kafka_topic_partitions" {
  description = "Partitions of each topic of kafka/topics."
  type        = map(number)
}

variable "msk_brokers" {
  description = "MSK brokers: instance_type, count, volume_size_gb."
  type        = any
}

variable "emr_applications" {
  description = "EMR Serverless capacity of the batch and streaming applications."
  type        = any
}

variable "mwaa_capacity" {
  description = "MWAA environment_class, min_workers, max_workers, schedulers."
  type        = any
}

variable "retention_days" {
  description = "Days kept: logs, audit_log."
  type        = any
}

variable "build_cache_expiration_days" {
  description = "Days after which a build cache entry is deleted."
  type        = number
}
