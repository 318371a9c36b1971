aws_region        = "eu-west-1"
aws_account_id    = "418295301274"
platform_vpc_name = "finsight-dev-platform"

kafka_topic_partitions = {
  "payments.transactions.v1" = 6
  "cards.authorizations.v1"  = 6
  "transfers.events.v1"      = 6
  "ledger.entries.v1"        = 6
  "fraud.signals.v1"         = 6
  "kyc.events.v1"            = 6
  "fx.rates.v1"              = 6
  "accounts.changes.v1"      = 6
}

msk_brokers = {
  instance_type  = "kafka.m7g.large"
  count          = 3
  volume_size_gb = 500
}

emr_applications = {
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

mwaa_capacity = {
  environment_class = "mw1.small"
  min_workers       = 1
  max_workers       = 5
  schedulers        = 2
}

retention_days = {
  logs      = 30
  audit_log = 30
}

build_cache_expiration_days = 14
