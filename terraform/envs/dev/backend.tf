terraform {
  backend "s3" {
    bucket       = "finsight-dev-terraform-state"
    key          = "data-platform/dev/terraform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}
