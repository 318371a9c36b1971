terraform {
  backend "s3" {
    bucket       = "finsight-staging-terraform-state"
    key          = "data-platform/staging/terraform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}
