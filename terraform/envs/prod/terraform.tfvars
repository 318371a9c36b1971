aws_region        = "eu-west-1"
aws_account_id    = "639402187456"
platform_vpc_name = "finsight-prod-platform"

kafka_topic_partitions = {
  "payments.transactions.v1" = 48
  "cards.authorizations.v1"  = 48
  "transfers.events.v1"      = 24
  "ledger.entries.v1"        = 24
  "fraud.signals.v1"         = 24
  "kyc.events.v1"            = 12
  "fx.rates.v1"              = 6
  "accounts.changes.v1"      = 24
}

msk_brokers = {
  instance_type  = "kafka.m7g.xlarge"
  count          = 6
  volume_size_gb = 4000
}

emr_applications = {
  batch = {
    initial_drivers      = 0
    initial_executors    = 0
    worker_cpu           = "8 vCPU"
    worker_memory        = "32 GB"
    max_cpu              = "800 vCPU"
    max_memory           = "3200 GB"
    max_disk             = "20000 GB"
    idle_timeout_minutes = 15
  }
  streaming = {
    initial_drivers      = 3
    initial_executors    = 24
    worker_cpu           = "4 vCPU"
    worker_memory        = "16 GB"
    max_cpu              = "400 vCPU"
    max_memory           = "1600 GB"
    max_disk             = "8000 GB"
    idle_timeout_minutes = null
  }
}

mwaa_capacity = {
  environment_class = "mw1.large"
  min_workers       = 3
  max_workers       = 25
  schedulers        = 3
}

retention_days = {
  logs      = 400
  audit_log = 2557 # SOX: seven years
}

build_cache_expiration_days = 30
