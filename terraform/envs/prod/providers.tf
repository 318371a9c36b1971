provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      Project     = local.tags.Project
      Environment = local.tags.Environment
      Owner       = local.tags.Owner
      ManagedBy   = "terraform"
      Repository  = local.github_repository
    }
  }
}
