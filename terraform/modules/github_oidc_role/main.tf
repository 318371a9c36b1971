# The role GitHub Actions assumes to deploy this environment. The trust policy accepts only tokens
# issued for the deploy job of this repository bound to this GitHub environment (whose protection
# rules hold the approval gate), so neither a fork, another repository, another branch's job nor
# another environment's job can assume it.

locals {
  github_subject = "repo:${var.github_repository}:environment:${var.environment}"
  state_bucket   = "arn:aws:s3:::${var.state_bucket_name}"
}

resource "aws_iam_openid_connect_provider" "github" {
  url             = "https://token.actions.githubusercontent.com"
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
  tags            = var.tags
}

data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "GitHubActionsDeployJobOfThisEnvironment"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.github.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:environment:${var.environment}"]
    }
  }
}

resource "aws_iam_role" "deploy" {
  name                 = "${var.name_prefix}-${var.environment}-github-deploy"
  description          = "GitHub Actions deploy of ${var.github_repository} to ${var.environment} (${local.github_subject})."
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_duration
  tags                 = var.tags
}

data "aws_iam_policy_document" "deploy" {
  statement {
    sid       = "TerraformStateList"
    actions   = ["s3:ListBucket"]
    resources = [local.state_bucket]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["data-platform/${var.environment}/*"]
    }
  }

  statement {
    sid       = "TerraformStateAndLock"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.state_bucket}/data-platform/${var.environment}/*"]
  }

  dynamic "statement" {
    for_each = length(var.read_write_bucket_arns) > 0 ? [1] : []

    content {
      sid       = "ReleaseBuckets"
      actions   = ["s3:ListBucket", "s3:GetBucketVersioning", "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
      resources = concat(var.read_write_bucket_arns, [for arn in var.read_write_bucket_arns : "${arn}/*"])
    }
  }

  dynamic "statement" {
    for_each = length(var.append_only_bucket_arns) > 0 ? [1] : []

    content {
      sid       = "AuditLogAppend"
      actions   = ["s3:ListBucket", "s3:GetObject", "s3:PutObject"]
      resources = concat(var.append_only_bucket_arns, [for arn in var.append_only_bucket_arns : "${arn}/*"])
    }
  }

  dynamic "statement" {
    for_each = var.glue_registry_arn == null ? [] : [1]

    content {
      sid = "SchemaRegistry"
      actions = [
        "glue:GetRegistry", "glue:GetSchema", "glue:GetSchemaVersion", "glue:GetSchemaByDefinition",
        "glue:ListSchemaVersions", "glue:CheckSchemaVersionValidity", "glue:RegisterSchemaVersion",
      ]
      resources = [var.glue_registry_arn, "${replace(var.glue_registry_arn, ":registry/", ":schema/")}/*"]
    }
  }

  statement {
    sid       = "UseEnvironmentKeys"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = var.kms_key_arns
  }
}

resource "aws_iam_role_policy" "deploy" {
  name   = "graphbuild-deploy"
  role   = aws_iam_role.deploy.id
  policy = data.aws_iam_policy_document.deploy.json
}

resource "aws_iam_role_policy_attachment" "managed" {
  for_each = var.managed_policy_arns

  role       = aws_iam_role.deploy.name
  policy_arn = each.value
}
