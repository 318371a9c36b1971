# The FinSight data platform of one environment: keys, lake, release artifacts, audit log, secrets,
# Kafka, schemas, Spark and Airflow, wired together once. The root stacks in terraform/envs/<env>/ call
# this with what really differs between environments (sizes, retention, partitions) and keep who may
# change the environment: the GitHub OIDC deploy role and the build cache (see envs/<env>/main.tf).
#
# local.kafka_topics mirrors kafka/topics/<topic>/topic.toml except the partitions, which the
# environment gives (tests/platform/test_terraform.py keeps them in step); the schemas themselves
# are read from kafka/topics by the glue_schema_registry module.

locals {
  secrets_prefix = "finsight/${var.environment}"

  kafka_topics = {
    "payments.transactions.v1" = {
      replication_factor  = 3
      min_insync_replicas = 2
      retention_ms        = 604800000
      cleanup_policy      = "delete"
      compatibility       = "BACKWARD_TRANSITIVE"
      description         = "Every status transition of a card or account-to-account payment, keyed by transaction_id."
    }
    "cards.authorizations.v1" = {
      replication_factor  = 3
      min_insync_replicas = 2
      retention_ms        = 604800000
      cleanup_policy      = "delete"
      compatibility       = "FULL"
      description         = "Outcome of every card authorization request from Visa and Mastercard, keyed by card_id."
    }
    "transfers.events.v1" = {
      replication_factor  = 3
      min_insync_replicas = 2
      retention_ms        = 1209600000
      cleanup_policy      = "delete"
      compatibility       = "BACKWARD"
      description         = "Lifecycle events of bank transfers on ACH, wire, SEPA, Faster Payments and internal book transfers, keyed by transfer_id."
    }
    "ledger.entries.v1" = {
      replication_factor  = 3
      min_insync_replicas = 2
      retention_ms        = 2592000000
      cleanup_policy      = "delete"
      compatibility       = "FULL_TRANSITIVE"
      description         = "Lines of balanced journals posted to the general ledger, keyed by journal_id."
    }
    "fraud.signals.v1" = {
      replication_factor  = 3
      min_insync_replicas = 2
      retention_ms        = 259200000
      cleanup_policy      = "delete"
      compatibility       = "FORWARD"
      description         = "Risk signals about cards, accounts, customers, devices and merchants from the fraud decision engine, keyed by entity_id."
    }
    "kyc.events.v1" = {
      replication_factor  = 3
      min_insync_replicas = 2
      retention_ms        = 2592000000
      cleanup_policy      = "delete"
      compatibility       = "BACKWARD"
      description         = "Steps of customer due diligence checks (documents, liveness, sanctions and PEP screening), keyed by customer_id."
    }
    "fx.rates.v1" = {
      replication_factor  = 3
      min_insync_replicas = 2
      retention_ms        = -1
      cleanup_policy      = "compact"
      compatibility       = "FULL"
      description         = "Reference and customer FX rates published by treasury, keyed by <base><quote>:<rate_type>."
    }
    "accounts.changes.v1" = {
      replication_factor  = 3
      min_insync_replicas = 2
      retention_ms        = -1
      cleanup_policy      = "compact"
      compatibility       = "BACKWARD"
      description         = "State of an account after every change (opening, update, freeze, closure), keyed by account_id."
    }
  }

  # names only: the values are put by their owners with `aws secretsmanager put-secret-value`
  secrets = {
    "airflow/connections/snowflake_default" = {
      description = "Snowflake connection of the dbt and load tasks, as an Airflow connection URI."
      owner       = "data-platform-team"
    }
    "airflow/connections/slack_data_alerts" = {
      description = "Slack webhook connection for DAG failure and SLA alerts."
      owner       = "data-platform-team"
    }
    "airflow/connections/pagerduty_events" = {
      description = "PagerDuty Events API v2 routing connection for tier-1 DAG failures."
      owner       = "data-platform-team"
    }
    "dbt/snowflake_transformer_key" = {
      description = "Private key (key-pair auth) of the Snowflake TRANSFORMER service user that dbt runs as."
      owner       = "analytics-engineering"
    }
    "graphbuild/cache_signing_key" = {
      description = "HMAC-SHA256 key that signs and verifies graphbuild's build cache results (GRAPHBUILD_CACHE_HMAC_KEY)."
      owner       = "data-platform-team"
    }
    "kyc/provider_webhook_signing_key" = {
      description = "HMAC key verifying KYC provider webhooks before events reach kyc.events.v1."
      owner       = "compliance-data"
    }
  }
}

data "aws_vpc" "platform" {
  tags = {
    Name = var.vpc_name
  }
}

data "aws_subnets" "private" {
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.platform.id]
  }

  tags = {
    Tier = "private"
  }
}

# --- keys

module "kms_data" {
  source = "../kms"

  environment        = var.environment
  name               = "data"
  description        = "FinSight ${var.environment}: lake, release artifacts, build cache."
  service_principals = ["logs.amazonaws.com"]
  tags               = var.tags
}

module "kms_platform" {
  source = "../kms"

  environment        = var.environment
  name               = "platform"
  description        = "FinSight ${var.environment}: MSK, MWAA, Secrets Manager."
  service_principals = ["logs.amazonaws.com"]
  tags               = var.tags
}

module "kms_audit" {
  source = "../kms"

  environment = var.environment
  name        = "audit"
  description = "FinSight ${var.environment}: the audit log only."
  tags        = merge(var.tags, { DataClassification = "restricted" })
}

# --- storage

module "data_lake_buckets" {
  source = "../data_lake_buckets"

  environment = var.environment
  kms_key_arn = module.kms_data.key_arn
  tags        = var.tags
}

module "artifact_store" {
  source = "../artifact_store"

  environment = var.environment
  kms_key_arn = module.kms_data.key_arn
  tags        = var.tags
}

module "audit_bucket" {
  source = "../audit_bucket"

  environment      = var.environment
  kms_key_arn      = module.kms_audit.key_arn
  retention_days   = var.retention_days.audit_log
  writer_role_arns = var.deploy_role_arns
  tags             = merge(var.tags, { DataClassification = "restricted" })
}

# --- secrets

module "secrets" {
  source = "../secrets"

  environment = var.environment
  kms_key_arn = module.kms_platform.key_arn
  secrets     = local.secrets
  tags        = merge(var.tags, { DataClassification = "restricted" })
}

# --- streaming

module "msk_cluster" {
  source = "../msk_cluster"

  environment               = var.environment
  broker_instance_type      = var.msk_brokers.instance_type
  broker_count              = var.msk_brokers.count
  broker_volume_size_gb     = var.msk_brokers.volume_size_gb
  vpc_id                    = data.aws_vpc.platform.id
  subnet_ids                = slice(sort(data.aws_subnets.private.ids), 0, 3)
  client_security_group_ids = [module.emr_serverless.security_group_id, module.mwaa.security_group_id]
  kms_key_arn               = module.kms_platform.key_arn
  log_retention_days        = var.retention_days.logs
  tags                      = var.tags
}

module "msk_topics" {
  source = "../msk_topics"

  environment = var.environment
  cluster_arn = module.msk_cluster.cluster_arn
  topics = {
    for name, t in local.kafka_topics : name => {
      partitions          = var.kafka_topic_partitions[name]
      replication_factor  = t.replication_factor
      retention_ms        = t.retention_ms
      cleanup_policy      = t.cleanup_policy
      min_insync_replicas = t.min_insync_replicas
    }
  }
  tags = var.tags
}

module "glue_schema_registry" {
  source = "../glue_schema_registry"

  environment = var.environment
  topics = {
    for name, t in local.kafka_topics : name => {
      compatibility = t.compatibility
      description   = t.description
    }
  }
  tags = var.tags
}

# --- compute and orchestration

module "emr_serverless" {
  source = "../emr_serverless"

  environment         = var.environment
  applications        = var.emr_applications
  vpc_id              = data.aws_vpc.platform.id
  subnet_ids          = data.aws_subnets.private.ids
  lake_bucket_arns    = values(module.data_lake_buckets.bucket_arns)
  artifact_bucket_arn = module.artifact_store.bucket_arn
  glue_database_name  = module.data_lake_buckets.glue_database_name
  kms_key_arns        = [module.kms_data.key_arn, module.kms_platform.key_arn]
  logs_kms_key_arn    = module.kms_data.key_arn
  log_retention_days  = var.retention_days.logs
  job_policy_arns = {
    for name, arn in module.msk_topics.consume_policy_arns : "consume-${replace(name, ".", "-")}" => arn
  }
  tags = var.tags
}

module "mwaa" {
  source = "../mwaa"

  environment          = var.environment
  environment_class    = var.mwaa_capacity.environment_class
  min_workers          = var.mwaa_capacity.min_workers
  max_workers          = var.mwaa_capacity.max_workers
  schedulers           = var.mwaa_capacity.schedulers
  vpc_id               = data.aws_vpc.platform.id
  subnet_ids           = slice(sort(data.aws_subnets.private.ids), 0, 2)
  kms_key_arn          = module.kms_platform.key_arn
  secrets_prefix       = local.secrets_prefix
  emr_application_arns = values(module.emr_serverless.application_arns)
  emr_job_role_arn     = module.emr_serverless.job_role_arn
  tags                 = var.tags
}
