# FinSight data platform, dev stack. Development: one account per environment, so every name below
# is scoped by environment as well. Its sizes and retention are in terraform.tfvars; what
# every environment shares is wired in modules/platform.

locals {
  environment       = "dev"
  github_repository = "finsight/data-platform"

  tags = {
    Project            = "finsight-data-platform"
    Environment        = local.environment
    Owner              = "data-platform-team"
    DataClassification = "confidential"
    CostCenter         = "cc-4410-data-platform"
  }
}

module "platform" {
  source = "../../modules/platform"

  environment            = local.environment
  vpc_name               = var.platform_vpc_name
  deploy_role_arns       = [module.github_oidc_role.role_arn]
  kafka_topic_partitions = var.kafka_topic_partitions
  msk_brokers            = var.msk_brokers
  emr_applications       = var.emr_applications
  mwaa_capacity          = var.mwaa_capacity
  retention_days         = var.retention_days
  tags                   = local.tags
}

# Who may change this environment stays in its root stack, next to the backend: the deploy role and
# the writers of graphbuild's build cache trust GitHub OIDC subjects built from the literals here,
# where the oidc-subject check of rules/checks/terraform_policy.py renders and verifies them.

module "github_oidc_role" {
  source = "../../modules/github_oidc_role"

  environment             = local.environment
  github_repository       = local.github_repository
  state_bucket_name       = "finsight-dev-terraform-state" # the bucket of backend.tf
  read_write_bucket_arns  = module.platform.deploy_access.read_write_bucket_arns
  append_only_bucket_arns = module.platform.deploy_access.append_only_bucket_arns
  glue_registry_arn       = module.platform.deploy_access.glue_registry_arn
  kms_key_arns            = module.platform.deploy_access.kms_key_arns
  managed_policy_arns     = module.platform.deploy_access.managed_policy_arns
  tags                    = local.tags
}

module "build_cache_bucket" {
  source = "../../modules/build_cache_bucket"

  environment              = local.environment
  kms_key_arn              = module.platform.build_cache_kms_key_arn
  expiration_days          = var.build_cache_expiration_days
  github_oidc_provider_arn = module.github_oidc_role.oidc_provider_arn
  signing_key_secret_arn   = module.platform.build_cache_signing_key_secret_arn
  # CI on main writes the shared cache; pull requests and laptops only read it
  writer_subjects = [
    "repo:finsight/data-platform:ref:refs/heads/main",
  ]
  reader_subjects = [
    "repo:finsight/data-platform:pull_request",
  ]
  tags = merge(local.tags, { DataClassification = "internal" })
}
