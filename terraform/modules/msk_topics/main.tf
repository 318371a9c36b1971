# The Kafka topics of the MSK cluster. The AWS provider has no topic resource and the platform runs
# no Kafka provider, so this module declares the topics in two places that the deploy uses:
#   - the topic manifest, an SSM parameter read by graphbuild's kafka deploy step, which creates
#     missing topics and alters partitions and configs through the Kafka admin API (IAM auth);
#   - IAM policies scoped to each topic's ARN: one to produce, one to consume, and one admin policy
#     for the deploy role to manage exactly these topics.

locals {
  # arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid> -> the topic and group ARN parts
  arn_parts      = split("/", var.cluster_arn)
  arn_prefix     = replace(local.arn_parts[0], ":cluster", "")
  cluster_suffix = "${local.arn_parts[1]}/${local.arn_parts[2]}"

  topic_arns = { for name, _ in var.topics : name => "${local.arn_prefix}:topic/${local.cluster_suffix}/${name}" }
  group_arn  = "${local.arn_prefix}:group/${local.cluster_suffix}/${var.consumer_group_prefix}*"

  manifest = {
    cluster_arn = var.cluster_arn
    topics = {
      for name, t in var.topics : name => {
        partitions         = t.partitions
        replication_factor = t.replication_factor
        config = {
          "cleanup.policy"      = t.cleanup_policy
          "retention.ms"        = tostring(t.retention_ms)
          "min.insync.replicas" = tostring(t.min_insync_replicas)
        }
      }
    }
  }
}

resource "aws_ssm_parameter" "manifest" {
  name        = "/finsight/${var.environment}/kafka/topics"
  description = "Kafka topics of finsight-${var.environment}, applied by graphbuild deploy."
  type        = "String"
  tier        = "Standard"
  value       = jsonencode(local.manifest)
  tags        = var.tags
}

data "aws_iam_policy_document" "produce" {
  for_each = var.topics

  statement {
    sid       = "Connect"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:WriteDataIdempotently"]
    resources = [var.cluster_arn]
  }

  statement {
    sid       = "Produce"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"]
    resources = [local.topic_arns[each.key]]
  }
}

resource "aws_iam_policy" "produce" {
  for_each = var.topics

  name        = "finsight-${var.environment}-kafka-produce-${replace(each.key, ".", "-")}"
  description = "Produce to ${each.key}."
  policy      = data.aws_iam_policy_document.produce[each.key].json
  tags        = merge(var.tags, { Topic = each.key })
}

data "aws_iam_policy_document" "consume" {
  for_each = var.topics

  statement {
    sid       = "Connect"
    actions   = ["kafka-cluster:Connect"]
    resources = [var.cluster_arn]
  }

  statement {
    sid       = "Consume"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
    resources = [local.topic_arns[each.key]]
  }

  statement {
    sid       = "ConsumerGroups"
    actions   = ["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"]
    resources = [local.group_arn]
  }
}

resource "aws_iam_policy" "consume" {
  for_each = var.topics

  name        = "finsight-${var.environment}-kafka-consume-${replace(each.key, ".", "-")}"
  description = "Consume ${each.key} in consumer groups ${var.consumer_group_prefix}*."
  policy      = data.aws_iam_policy_document.consume[each.key].json
  tags        = merge(var.tags, { Topic = each.key })
}

data "aws_iam_policy_document" "admin" {
  statement {
    sid       = "Connect"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
    resources = [var.cluster_arn]
  }

  statement {
    sid = "ManageDeclaredTopics"
    actions = [
      "kafka-cluster:CreateTopic", "kafka-cluster:DescribeTopic", "kafka-cluster:AlterTopic",
      "kafka-cluster:DescribeTopicDynamicConfiguration", "kafka-cluster:AlterTopicDynamicConfiguration",
    ]
    resources = values(local.topic_arns)
  }

  statement {
    sid       = "ReadManifest"
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.manifest.arn]
  }
}

resource "aws_iam_policy" "admin" {
  name        = "finsight-${var.environment}-kafka-topic-admin"
  description = "Create and alter the declared Kafka topics of finsight-${var.environment}; deletion is never granted."
  policy      = data.aws_iam_policy_document.admin.json
  tags        = var.tags
}
