output "github_deploy_role_arn" {
  description = "role-to-assume of the deploy workflow for this environment."
  value       = module.github_oidc_role.role_arn
}

output "build_cache_bucket" {
  description = "Bucket of graphbuild's remote cache."
  value       = module.build_cache_bucket.bucket_name
}

output "build_cache_writer_role_arn" {
  description = "Role CI assumes to write the cache."
  value       = module.build_cache_bucket.writer_role_arn
}

output "build_cache_reader_role_arn" {
  description = "Role engineers assume to read the cache."
  value       = module.build_cache_bucket.reader_role_arn
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
