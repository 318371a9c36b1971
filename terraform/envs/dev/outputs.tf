# The names are the interface of the deploy workflow and of graphbuild; the descriptions are those
# of the modules' outputs.tf.

output "github_deploy_role_arn" { value = module.github_oidc_role.role_arn }
output "build_cache_bucket" { value = module.build_cache_bucket.bucket_name }
output "build_cache_writer_role_arn" { value = module.build_cache_bucket.writer_role_arn }
output "build_cache_reader_role_arn" { value = module.build_cache_bucket.reader_role_arn }
output "build_cache_ci_reader_role_arn" { value = module.build_cache_bucket.ci_reader_role_arn }
output "artifact_store_bucket" { value = module.platform.artifact_store_bucket }
output "audit_bucket" { value = module.platform.audit_bucket }
output "lake_buckets" { value = module.platform.lake_buckets }
output "mwaa_dags_bucket" { value = module.platform.mwaa_dags_bucket }
output "mwaa_webserver_url" { value = module.platform.mwaa_webserver_url }
output "emr_application_ids" { value = module.platform.emr_application_ids }
output "msk_bootstrap_brokers" { value = module.platform.msk_bootstrap_brokers }
output "kafka_topic_manifest" { value = module.platform.kafka_topic_manifest }
output "schema_registry_name" { value = module.platform.schema_registry_name }
