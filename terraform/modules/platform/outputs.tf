output "deploy_access" {
  description = "What the environment's deploy role may change: the arguments of modules/github_oidc_role."
  value = {
    read_write_bucket_arns  = [module.artifact_store.bucket_arn, module.mwaa.dags_bucket_arn]
    append_only_bucket_arns = [module.audit_bucket.bucket_arn]
    glue_registry_arn       = module.glue_schema_registry.registry_arn
    kms_key_arns            = [module.kms_data.key_arn, module.kms_platform.key_arn, module.kms_audit.key_arn]
    managed_policy_arns = {
      kafka_topic_admin = module.msk_topics.admin_policy_arn
    }
  }
}

output "build_cache_kms_key_arn" {
  description = "Key of the build cache: the data key, shared with the lake and the release artifacts."
  value       = module.kms_data.key_arn
}

output "build_cache_signing_key_secret_arn" {
  description = "Secret holding the key that signs graphbuild's build cache results."
  value       = module.secrets.secret_arns["graphbuild/cache_signing_key"]
}

output "artifact_store_bucket" {
  description = "Bucket of graphbuild's content-addressed artifacts, plans and environment state."
  value       = module.artifact_store.bucket_name
}

output "audit_bucket" {
  description = "Bucket of the audit log."
  value       = module.audit_bucket.bucket_name
}

output "lake_buckets" {
  description = "Lake bucket of each zone."
  value       = module.data_lake_buckets.bucket_names
}

output "mwaa_dags_bucket" {
  description = "Bucket the DAGs are deployed to."
  value       = module.mwaa.dags_bucket_name
}

output "mwaa_webserver_url" {
  description = "Private URL of the Airflow UI."
  value       = module.mwaa.webserver_url
}

output "emr_application_ids" {
  description = "EMR Serverless application of each workload."
  value       = module.emr_serverless.application_ids
}

output "msk_bootstrap_brokers" {
  description = "Bootstrap servers for IAM-authenticated Kafka clients."
  value       = module.msk_cluster.bootstrap_brokers_sasl_iam
}

output "kafka_topic_manifest" {
  description = "SSM parameter graphbuild deploy reads the topic settings from."
  value       = module.msk_topics.manifest_parameter_name
}

output "schema_registry_name" {
  description = "Glue Schema Registry of the topics."
  value       = module.glue_schema_registry.registry_name
}
