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

variable "airflow_version" {
  description = "Apache Airflow version of the environment."
  type        = string
  default     = "3.0.6"
}

variable "environment_class" {
  description = "MWAA environment class."
  type        = string
  default     = "mw1.medium"

  validation {
    condition     = contains(["mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge"], var.environment_class)
    error_message = "environment_class must be an MWAA class, mw1.micro to mw1.2xlarge."
  }
}

variable "min_workers" {
  description = "Workers always running."
  type        = number
  default     = 1
}

variable "max_workers" {
  description = "Upper bound of worker autoscaling."
  type        = number
  default     = 10
}

variable "schedulers" {
  description = "Number of schedulers; two or more for availability."
  type        = number
  default     = 2
}

variable "weekly_maintenance_window_start" {
  description = "Start of the weekly maintenance window, DAY:HH:MM in UTC."
  type        = string
  default     = "SUN:03:00"
}

variable "vpc_id" {
  description = "VPC of the platform."
  type        = string
}

variable "subnet_ids" {
  description = "Exactly two private subnets in different availability zones."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) == 2
    error_message = "MWAA needs exactly two private subnets."
  }
}

variable "kms_key_arn" {
  description = "Key of the environment and the DAG bucket."
  type        = string
}

variable "secrets_prefix" {
  description = "Secrets Manager prefix of the environment, e.g. finsight/prod; connections live under <prefix>/airflow/connections."
  type        = string
}

variable "emr_application_arns" {
  description = "EMR Serverless applications the DAGs submit Spark jobs to."
  type        = list(string)
  default     = []
}

variable "emr_job_role_arn" {
  description = "Execution role passed to the Spark jobs, or null."
  type        = string
  default     = null
}

variable "execution_policy_arns" {
  description = "Further policies of the execution role by a static key."
  type        = map(string)
  default     = {}
}
