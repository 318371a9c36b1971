# FinSight data platform, dev stack. Development: one account per environment, so every name below
# is scoped by environment as well.
#
# local.kafka_topics mirrors kafka/topics/<topic>/topic.toml (tests/platform/test_terraform.py keeps
# them in step); the schemas themselves are read from kafka/topics by the glue_schema_registry module.

locals {
  environment       = "dev"
  github_repository = "finsight/data-platform"
  secrets_prefix    = "finsight/dev"

  tags = {
    Project            = "finsight-data-platform"
    Environment        = local.environment
    Owner              = "data-platform-team"
    DataClassification = "confidential"
    CostCenter         = "cc-4410-data-platform"
  }

  kafka_topics = {
    "payments.transactions.v1" = {
      partitions          = 6
      replication_factor  = 3
      min_insync_replicas = 2
      retention_ms        = 604800000
      cleanup_policy      = "delete"
      compatibility       = "BACKWARD_TRANSITIVE"
      description         = "Every status transition of a card or account-to-account payment, keyed by transaction_id."
    }
    "cards.authorizations.v1" = {
      partitions          = 6
      replication_factor  = 3
      min_insync_replicas = 2
      retention_ms        = 604800000
      cleanup_policy      = "delete"
      compatibility       = "FULL"
      description         = "Outcome of every card authorization request from Visa and Mastercard, keyed by card_id."
    }
    "transfers.events.v1" = {
      partitions          = 6
      replication_factor  = 3
      min_insync_replicas = 2
      retention_ms        = 1209600000
      cleanup_policy      = "delete"
      compatibility       = "BACKWARD"
      description         = "Lifecycle events of bank transfers on ACH, wire, SEPA, Faster Payments and internal book transfers, keyed by transfer_id."
    }
    "ledger.entries.v1" = {
      partitions          = 6
      replication_factor  = 3
      min_insync_replicas = 2
      retention_ms        = 2592000000
      cleanup_policy      = "delete"
      compatibility       = "FULL_TRANSITIVE"
      description         = "Lines of balanced journals posted to the general ledger, keyed by journal_id."
    }
    "fraud.signals.v1" = {
      partitions          = 6
      replication_factor  = 3
      min_insync_replicas = 2
      retention_ms        = 259200000
      cleanup_policy      = "delete"
      compatibility       = "FORWARD"
      description         = "Risk signals about cards, accounts, customers, devices and merchants from the fraud decision engine, keyed by entity_id."
    }
    "kyc.events.v1" = {
      partitions          = 6
      replication_factor  = 3
      min_insync_replicas = 2
      retention_ms        = 2592000000
      cleanup_policy      = "delete"
      compatibility       = "BACKWARD"
      description         = "Steps of customer due diligence checks (documents, liveness, sanctions and PEP screening), keyed by customer_id."
    }
    "fx.rates.v1" = {
      partitions          = 6
      replication_factor  = 3
      min_insync_replicas = 2
      retention_ms        = -1
      cleanup_policy      = "compact"
      compatibility       = "FULL"
      description         = "Reference and customer FX rates published by treasury, keyed by <base><quote>:<rate_type>."
    }
    "accounts.changes.v1" = {
      partitions          = 6
      replication_factor  = 3
      min_insync_replicas = 2
      retention_ms        = -1
      cleanup_policy      = "compact"
      compatibility       = "BACKWARD"
      description         = "State of an account after every change (opening, update, freeze, closure), keyed by account_id."
    }
  }

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
    "kyc/provider_webhook_signing_key" = {
      description = "HMAC key verifying KYC provider webhooks before events reach kyc.events.v1."
      owner       = "compliance-data"
    }
  }
}

data "aws_vpc" "platform" {
  tags = {
    Name = var.platform_vpc_name
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
  source = "../../modules/kms"

  environment        = local.environment
  name               = "data"
  description        = "FinSight dev: lake, release artifacts, build cache."
  service_principals = ["logs.amazonaws.com"]
  tags               = local.tags
}

module "kms_platform" {
  source = "../../modules/kms"

  environment        = local.environment
  name               = "platform"
  description        = "FinSight dev: MSK, MWAA, Secrets Manager."
  service_principals = ["logs.amazonaws.com"]
  tags               = local.tags
}

module "kms_audit" {
  source = "../../modules/kms"

  environment = local.environment
  name        = "audit"
  description = "FinSight dev: the audit log only."
  tags        = merge(local.tags, { DataClassification = "restricted" })
}

# --- storage

module "data_lake_buckets" {
  source = "../../modules/data_lake_buckets"

  environment = local.environment
  kms_key_arn = module.kms_data.key_arn
  tags        = local.tags
}

module "artifact_store" {
  source = "../../modules/artifact_store"

  environment = local.environment
  kms_key_arn = module.kms_data.key_arn
  tags        = local.tags
}

module "build_cache_bucket" {
  source = "../../modules/build_cache_bucket"

  environment              = local.environment
  kms_key_arn              = module.kms_data.key_arn
  expiration_days          = 14
  github_oidc_provider_arn = module.github_oidc_role.oidc_provider_arn
  # pull requests and main share the dev cache; nothing deployed beyond dev trusts it
  writer_subjects = [
    "repo:finsight/data-platform:pull_request",
    "repo:finsight/data-platform:ref:refs/heads/main",
  ]
  tags = merge(local.tags, { DataClassification = "internal" })
}

module "audit_bucket" {
  source = "../../modules/audit_bucket"

  environment      = local.environment
  kms_key_arn      = module.kms_audit.key_arn
  retention_days   = 30
  writer_role_arns = [module.github_oidc_role.role_arn]
  tags             = merge(local.tags, { DataClassification = "restricted" })
}

# --- identity and secrets

module "github_oidc_role" {
  source = "../../modules/github_oidc_role"

  environment             = local.environment
  github_repository       = local.github_repository
  state_bucket_name       = "finsight-dev-terraform-state"
  read_write_bucket_arns  = [module.artifact_store.bucket_arn, module.mwaa.dags_bucket_arn]
  append_only_bucket_arns = [module.audit_bucket.bucket_arn]
  glue_registry_arn       = module.glue_schema_registry.registry_arn
  kms_key_arns            = [module.kms_data.key_arn, module.kms_platform.key_arn, module.kms_audit.key_arn]
  managed_policy_arns = {
    kafka_topic_admin = module.msk_topics.admin_policy_arn
  }
  tags = local.tags
}

module "secrets" {
  source = "../../modules/secrets"

  environment = local.environment
  kms_key_arn = module.kms_platform.key_arn
  secrets     = local.secrets
  tags        = merge(local.tags, { DataClassification = "restricted" })
}

# --- streaming

module "msk_cluster" {
  source = "../../modules/msk_cluster"

  environment               = local.environment
  broker_instance_type      = "kafka.m7g.large"
  broker_count              = 3
  broker_volume_size_gb     = 500
  vpc_id                    = data.aws_vpc.platform.id
  subnet_ids                = slice(sort(data.aws_subnets.private.ids), 0, 3)
  client_security_group_ids = [module.emr_serverless.security_group_id, module.mwaa.security_group_id]
  kms_key_arn               = module.kms_platform.key_arn
  log_retention_days        = 30
  tags                      = local.tags
}

module "msk_topics" {
  source = "../../modules/msk_topics"

  environment = local.environment
  cluster_arn = module.msk_cluster.cluster_arn
  topics = {
    for name, t in local.kafka_topics : name => {
      partitions          = t.partitions
      replication_factor  = t.replication_factor
      retention_ms        = t.retention_ms
      cleanup_policy      = t.cleanup_policy
      min_insync_replicas = t.min_insync_replicas
    }
  }
  tags = local.tags
}

module "glue_schema_registry" {
  source = "../../modules/glue_schema_registry"

  environment = local.environment
  topics = {
    for name, t in local.kafka_topics : name => {
      compatibility = t.compatibility
      description   = t.description
    }
  }
  tags = local.tags
}

# --- compute and orchestration

module "emr_serverless" {
  source = "../../modules/emr_serverless"

  environment = local.environment
  applications = {
    batch = {
      initial_drivers      = 0
      initial_executors    = 0
      worker_cpu           = "4 vCPU"
      worker_memory        = "16 GB"
      max_cpu              = "64 vCPU"
      max_memory           = "256 GB"
      max_disk             = "1000 GB"
      idle_timeout_minutes = 15
    }
    streaming = {
      initial_drivers      = 1
      initial_executors    = 2
      worker_cpu           = "2 vCPU"
      worker_memory        = "8 GB"
      max_cpu              = "32 vCPU"
      max_memory           = "128 GB"
      max_disk             = "500 GB"
      idle_timeout_minutes = 60
    }
  }
  vpc_id              = data.aws_vpc.platform.id
  subnet_ids          = data.aws_subnets.private.ids
  lake_bucket_arns    = values(module.data_lake_buckets.bucket_arns)
  artifact_bucket_arn = module.artifact_store.bucket_arn
  glue_database_name  = module.data_lake_buckets.glue_database_name
  kms_key_arns        = [module.kms_data.key_arn, module.kms_platform.key_arn]
  logs_kms_key_arn    = module.kms_data.key_arn
  log_retention_days  = 30
  job_policy_arns = {
    for name, arn in module.msk_topics.consume_policy_arns : "consume-${replace(name, ".", "-")}" => arn
  }
  tags = local.tags
}

module "mwaa" {
  source = "../../modules/mwaa"

  environment          = local.environment
  environment_class    = "mw1.small"
  min_workers          = 1
  max_workers          = 5
  schedulers           = 2
  vpc_id               = data.aws_vpc.platform.id
  subnet_ids           = slice(sort(data.aws_subnets.private.ids), 0, 2)
  kms_key_arn          = module.kms_platform.key_arn
  secrets_prefix       = local.secrets_prefix
  emr_application_arns = values(module.emr_serverless.application_arns)
  emr_job_role_arn     = module.emr_serverless.job_role_arn
  tags                 = local.tags
}
