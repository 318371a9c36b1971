aws_region        = "eu-west-1"
aws_account_id    = "527716049385"
platform_vpc_name = "finsight-staging-platform"

kafka_topic_partitions = {
  "payments.transactions.v1" = 24
  "cards.authorizations.v1"  = 24
  "transfers.events.v1"      = 12
  "ledger.entries.v1"        = 12
  "fraud.signals.v1"         = 12
  "kyc.events.v1"            = 6
  "fx.rates.v1"              = 6
  "accounts.changes.v1"      = 12
}

msk_brokers = {
  instance_type  = "kafka.m7g.large"
  count          = 3
  volume_size_gb = 1000
}

emr_applications = {
  batch = {
    initial_drivers      = 0
    initial_executors    = 0
    worker_cpu           = "4 vCPU"
    worker_memory        = "16 GB"
    max_cpu              = "200 vCPU"
    max_memory           = "800 GB"
    max_disk             = "4000 GB"
    idle_timeout_minutes = 15
  }
  streaming = {
    initial_drivers      = 1
    initial_executors    = 4
    worker_cpu           = "4 vCPU"
    worker_memory        = "16 GB"
    max_cpu              = "96 vCPU"
    max_memory           = "384 GB"
    max_disk             = "2000 GB"
    idle_timeout_minutes = null
  }
}

mwaa_capacity = {
  environment_class = "mw1.medium"
  min_workers       = 2
  max_workers       = 10
  schedulers        = 2
}

retention_days = {
  logs      = 90
  audit_log = 365
}

build_cache_expiration_days = 30
