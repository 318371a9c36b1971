terraform {
  backend "s3" {
    bucket       = "finsight-prod-terraform-state"
    key          = "data-platform/prod/terraform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}
