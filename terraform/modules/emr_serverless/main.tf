# EMR Serverless applications of the Spark jobs: "batch" for the 12 batch jobs (stops when idle)
# and "streaming" for the 3 Structured Streaming jobs (kept warm, so a redeploy restarts a query
# within the 2-minute budget). Jobs run as one execution role that reads and writes the lake,
# reads job packages from the artifact store and consumes the Kafka topics it is given.

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
}

resource "aws_security_group" "jobs" {
  name        = "finsight-${var.environment}-emr-serverless"
  description = "EMR Serverless Spark workers: outbound only (MSK, S3 and AWS APIs)."
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "finsight-${var.environment}-emr-serverless" })

  egress {
    description = "HTTPS and Kafka over TLS"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_emrserverless_application" "spark" {
  for_each = var.applications

  name          = "finsight-${var.environment}-${each.key}"
  release_label = var.release_label
  type          = "spark"
  architecture  = "ARM64"
  tags          = merge(var.tags, { Workload = each.key })

  dynamic "initial_capacity" {
    # pre-initialized workers only where asked for: a cold batch application costs nothing
    for_each = { for kind, count in { Driver = each.value.initial_drivers, Executor = each.value.initial_executors } : kind => count if count > 0 }

    content {
      initial_capacity_type = initial_capacity.key

      initial_capacity_config {
        worker_count = initial_capacity.value

        worker_configuration {
          cpu    = each.value.worker_cpu
          memory = each.value.worker_memory
          disk   = "100 GB"
        }
      }
    }
  }

  maximum_capacity {
    cpu    = each.value.max_cpu
    memory = each.value.max_memory
    disk   = each.value.max_disk
  }

  auto_start_configuration {
    enabled = true
  }

  auto_stop_configuration {
    enabled              = each.value.idle_timeout_minutes != null
    idle_timeout_minutes = coalesce(each.value.idle_timeout_minutes, 15)
  }

  network_configuration {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.jobs.id]
  }
}

resource "aws_cloudwatch_log_group" "jobs" {
  name              = "/finsight/${var.environment}/emr-serverless"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["emr-serverless.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "job" {
  name               = "finsight-${var.environment}-spark-job"
  description        = "Runtime role of the FinSight Spark jobs on EMR Serverless."
  assume_role_policy = data.aws_iam_policy_document.trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "job" {
  statement {
    sid       = "LakeBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = var.lake_bucket_arns
  }

  statement {
    sid       = "LakeObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [for arn in var.lake_bucket_arns : "${arn}/*"]
  }

  statement {
    sid       = "JobPackages"
    actions   = ["s3:GetObject", "s3:ListBucket"]
    resources = [var.artifact_bucket_arn, "${var.artifact_bucket_arn}/cas/*"]
  }

  statement {
    sid = "LakeCatalog"
    actions = [
      "glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable",
      "glue:GetPartition", "glue:GetPartitions", "glue:BatchCreatePartition", "glue:BatchGetPartition",
    ]
    resources = [
      "arn:aws:glue:${local.region}:${local.account_id}:catalog",
      "arn:aws:glue:${local.region}:${local.account_id}:database/${var.glue_database_name}",
      "arn:aws:glue:${local.region}:${local.account_id}:table/${var.glue_database_name}/*",
    ]
  }

  statement {
    sid       = "SchemaRegistryRead"
    actions   = ["glue:GetSchemaVersion", "glue:GetSchemaByDefinition", "glue:GetRegistry", "glue:GetSchema"]
    resources = ["*"]
  }

  statement {
    sid       = "Keys"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = var.kms_key_arns
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.jobs.arn}:*"]
  }
}

resource "aws_iam_role_policy" "job" {
  name   = "spark-job-runtime"
  role   = aws_iam_role.job.id
  policy = data.aws_iam_policy_document.job.json
}

resource "aws_iam_role_policy_attachment" "job" {
  for_each = var.job_policy_arns

  role       = aws_iam_role.job.name
  policy_arn = each.value
}
