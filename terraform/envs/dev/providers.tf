provider "aws" {
  region              = var.aws_region
  allowed_account_ids = [var.aws_account_id]

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
