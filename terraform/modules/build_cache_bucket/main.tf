# graphbuild's remote cache of passing test and package results. Entries are keyed by content and
# cheap to recompute, so they expire; only CI on main writes (through GitHub OIDC, for the subjects
# given); engineers (SSO) and pull-request CI (OIDC) read. Results are signed with an HMAC key kept in
# Secrets Manager, so an entry that did not come from a writer is refused even if it lands in the bucket. Each environment has its own cache so that a pull request
# can never write an entry that a staging or production deploy would trust.

data "aws_caller_identity" "current" {}

locals {
  bucket_name = "${var.name_prefix}-${var.environment}-build-cache"
  account_id  = data.aws_caller_identity.current.account_id
  reader_principal_patterns = [
    for role in var.reader_sso_role_name_patterns :
    "arn:aws:iam::${local.account_id}:role/aws-reserved/sso.amazonaws.com/*/${role}"
  ]
}

resource "aws_s3_bucket" "cache" {
  bucket        = local.bucket_name
  force_destroy = false
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "cache" {
  bucket = aws_s3_bucket.cache.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "cache" {
  bucket                  = aws_s3_bucket.cache.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "cache" {
  bucket = aws_s3_bucket.cache.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "cache" {
  bucket = aws_s3_bucket.cache.id

  rule {
    id     = "expire-cache-entries"
    status = "Enabled"

    filter {}

    expiration {
      days = var.expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "cache" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.cache.arn, "${aws_s3_bucket.cache.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "OnlyTheCiWriterWrites"
    effect    = "Deny"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.cache.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [aws_iam_role.writer.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "cache" {
  bucket = aws_s3_bucket.cache.id
  policy = data.aws_iam_policy_document.cache.json

  depends_on = [aws_s3_bucket_public_access_block.cache]
}

# --- CI writer: assumed by GitHub Actions through OIDC

data "aws_iam_policy_document" "writer_trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.github_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = var.writer_subjects
    }
  }
}

resource "aws_iam_role" "writer" {
  name                 = "${var.name_prefix}-${var.environment}-build-cache-writer"
  description          = "graphbuild CI: reads and writes the ${var.environment} build cache."
  assume_role_policy   = data.aws_iam_policy_document.writer_trust.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "writer" {
  statement {
    sid       = "ListCache"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.cache.arn]
  }

  statement {
    sid       = "ReadWriteEntries"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${aws_s3_bucket.cache.arn}/*"]
  }

  statement {
    sid       = "UseTheCacheKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "SignResults"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.signing_key_secret_arn]
  }
}

resource "aws_iam_role_policy" "writer" {
  name   = "build-cache-read-write"
  role   = aws_iam_role.writer.id
  policy = data.aws_iam_policy_document.writer.json
}

# --- engineer reader: assumed from the engineers' SSO roles

data "aws_iam_policy_document" "reader_trust" {
  statement {
    actions = ["sts:AssumeRole", "sts:SetSourceIdentity"]

    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${local.account_id}:root"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:PrincipalArn"
      values   = local.reader_principal_patterns
    }
  }

}

resource "aws_iam_role" "reader" {
  name                 = "${var.name_prefix}-${var.environment}-build-cache-reader"
  description          = "Engineers' laptops: read-only access to the ${var.environment} build cache."
  assume_role_policy   = data.aws_iam_policy_document.reader_trust.json
  max_session_duration = 43200
  tags                 = var.tags
}

data "aws_iam_policy_document" "reader" {
  statement {
    sid       = "ListCache"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.cache.arn]
  }

  statement {
    sid       = "ReadEntries"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.cache.arn}/*"]
  }

  statement {
    sid       = "DecryptEntries"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "VerifyResults"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.signing_key_secret_arn]
  }
}

resource "aws_iam_role_policy" "reader" {
  name   = "build-cache-read-only"
  role   = aws_iam_role.reader.id
  policy = data.aws_iam_policy_document.reader.json
}

# --- pull-request reader: CI on pull requests reads through GitHub OIDC and never writes

data "aws_iam_policy_document" "ci_reader_trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.github_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = var.reader_subjects
    }
  }
}

resource "aws_iam_role" "ci_reader" {
  count = length(var.reader_subjects) > 0 ? 1 : 0

  name                 = "${var.name_prefix}-${var.environment}-build-cache-ci-reader"
  description          = "graphbuild CI on pull requests: read-only access to the ${var.environment} build cache."
  assume_role_policy   = data.aws_iam_policy_document.ci_reader_trust.json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "ci_reader" {
  count = length(var.reader_subjects) > 0 ? 1 : 0

  name   = "build-cache-read-only"
  role   = aws_iam_role.ci_reader[0].id
  policy = data.aws_iam_policy_document.reader.json
}
