# Amazon MWAA running the FinSight DAGs. graphbuild deploy uploads dags/ and requirements.txt to
# the versioned DAG bucket; MWAA reads connections and variables from Secrets Manager. The web
# server is reachable from the corporate network only (PRIVATE_ONLY).

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

locals {
  name       = "finsight-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  env_arn    = "arn:aws:airflow:${local.region}:${local.account_id}:environment/${local.name}"
}

# --- DAG bucket

resource "aws_s3_bucket" "dags" {
  bucket        = "finsight-${var.environment}-mwaa-dags"
  force_destroy = false
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "dags" {
  bucket = aws_s3_bucket.dags.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "dags" {
  bucket                  = aws_s3_bucket.dags.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "dags" {
  bucket = aws_s3_bucket.dags.id

  versioning_configuration {
    status = "Enabled" # MWAA requires it; it also lets a rollback restore the previous DAG files
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "dags" {
  bucket = aws_s3_bucket.dags.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "dags" {
  bucket = aws_s3_bucket.dags.id

  rule {
    id     = "expire-old-dag-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 90
    }
  }

  depends_on = [aws_s3_bucket_versioning.dags]
}

data "aws_iam_policy_document" "dags_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.dags.arn, "${aws_s3_bucket.dags.arn}/*"]

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
}

resource "aws_s3_bucket_policy" "dags" {
  bucket = aws_s3_bucket.dags.id
  policy = data.aws_iam_policy_document.dags_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.dags]
}

# --- network

resource "aws_security_group" "mwaa" {
  name        = "${local.name}-mwaa"
  description = "MWAA workers, schedulers and web server."
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${local.name}-mwaa" })

  ingress {
    description = "MWAA components talk to each other"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    self        = true
  }

  egress {
    description = "AWS APIs, MSK and Snowflake over TLS"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

# --- execution role

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["airflow.amazonaws.com", "airflow-env.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${local.name}-mwaa-execution"
  description        = "Execution role of the ${local.name} MWAA environment."
  assume_role_policy = data.aws_iam_policy_document.trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "PublishMetrics"
    actions   = ["airflow:PublishMetrics"]
    resources = [local.env_arn]
  }

  statement {
    sid       = "ReadDags"
    actions   = ["s3:GetObject*", "s3:GetBucket*", "s3:List*"]
    resources = [aws_s3_bucket.dags.arn, "${aws_s3_bucket.dags.arn}/*"]
  }

  statement {
    sid = "Logs"
    actions = [
      "logs:CreateLogStream", "logs:CreateLogGroup", "logs:PutLogEvents", "logs:GetLogEvents",
      "logs:GetLogRecord", "logs:GetLogGroupFields", "logs:GetQueryResults",
    ]
    resources = ["arn:aws:logs:${local.region}:${local.account_id}:log-group:airflow-${local.name}-*"]
  }

  statement {
    sid       = "Metrics"
    actions   = ["cloudwatch:PutMetricData", "logs:DescribeLogGroups"]
    resources = ["*"]
  }

  statement {
    sid       = "CeleryQueue"
    actions   = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage"]
    resources = ["arn:aws:sqs:${local.region}:*:airflow-celery-*"]
  }

  statement {
    sid       = "Keys"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "ConnectionsAndVariables"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = ["arn:aws:secretsmanager:${local.region}:${local.account_id}:secret:${var.secrets_prefix}/*"]
  }

  statement {
    sid       = "ListSecrets"
    actions   = ["secretsmanager:ListSecrets"]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = length(var.emr_application_arns) > 0 ? [1] : []

    content {
      sid       = "RunSparkJobs"
      actions   = ["emr-serverless:StartJobRun", "emr-serverless:GetJobRun", "emr-serverless:CancelJobRun", "emr-serverless:GetApplication"]
      resources = concat(var.emr_application_arns, [for arn in var.emr_application_arns : "${arn}/jobruns/*"])
    }
  }

  dynamic "statement" {
    for_each = var.emr_job_role_arn == null ? [] : [1]

    content {
      sid       = "PassSparkJobRole"
      actions   = ["iam:PassRole"]
      resources = [var.emr_job_role_arn]

      condition {
        test     = "StringEquals"
        variable = "iam:PassedToService"
        values   = ["emr-serverless.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "mwaa-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  for_each = var.execution_policy_arns

  role       = aws_iam_role.execution.name
  policy_arn = each.value
}

# --- environment

resource "aws_mwaa_environment" "this" {
  name                            = local.name
  airflow_version                 = var.airflow_version
  environment_class               = var.environment_class
  min_workers                     = var.min_workers
  max_workers                     = var.max_workers
  schedulers                      = var.schedulers
  execution_role_arn              = aws_iam_role.execution.arn
  kms_key                         = var.kms_key_arn
  source_bucket_arn               = aws_s3_bucket.dags.arn
  dag_s3_path                     = "dags/"
  requirements_s3_path            = "requirements.txt"
  webserver_access_mode           = "PRIVATE_ONLY"
  weekly_maintenance_window_start = var.weekly_maintenance_window_start
  tags                            = var.tags

  airflow_configuration_options = {
    "core.default_timezone"        = "utc"
    "core.load_examples"           = "false"
    "scheduler.catchup_by_default" = "false"
    "secrets.backend"              = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
    "secrets.backend_kwargs" = jsonencode({
      connections_prefix = "${var.secrets_prefix}/airflow/connections"
      variables_prefix   = "${var.secrets_prefix}/airflow/variables"
    })
  }

  network_configuration {
    security_group_ids = [aws_security_group.mwaa.id]
    subnet_ids         = var.subnet_ids
  }

  logging_configuration {
    dag_processing_logs {
      enabled   = true
      log_level = "WARNING"
    }

    scheduler_logs {
      enabled   = true
      log_level = "WARNING"
    }

    task_logs {
      enabled   = true
      log_level = "INFO"
    }

    webserver_logs {
      enabled   = true
      log_level = "WARNING"
    }

    worker_logs {
      enabled   = true
      log_level = "WARNING"
    }
  }

  depends_on = [aws_iam_role_policy.execution, aws_s3_bucket_versioning.dags]
}
