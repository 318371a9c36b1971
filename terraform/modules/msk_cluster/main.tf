# The MSK cluster of the streaming platform: IAM authentication only, TLS everywhere, encrypted at
# rest with the platform key, broker logs in CloudWatch. Topics are never auto-created: they are
# declared in kafka/topics and managed through the msk_topics module.

resource "aws_msk_configuration" "this" {
  name           = "finsight-${var.environment}-kafka-${replace(var.kafka_version, ".", "-")}"
  kafka_versions = [var.kafka_version]
  description    = "FinSight ${var.environment} broker defaults."

  server_properties = <<-PROPERTIES
    auto.create.topics.enable=false
    default.replication.factor=3
    min.insync.replicas=2
    unclean.leader.election.enable=false
    num.partitions=6
    log.retention.hours=168
    message.max.bytes=1048588
    replica.lag.time.max.ms=30000
  PROPERTIES
}

resource "aws_security_group" "brokers" {
  name        = "finsight-${var.environment}-msk-brokers"
  description = "MSK brokers: IAM-authenticated TLS clients from the platform only."
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "finsight-${var.environment}-msk-brokers" })

  ingress {
    description     = "Kafka over TLS with IAM authentication"
    from_port       = 9098
    to_port         = 9098
    protocol        = "tcp"
    security_groups = var.client_security_group_ids
  }

  egress {
    description = "Broker to broker and to AWS APIs"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_cloudwatch_log_group" "brokers" {
  name              = "/finsight/${var.environment}/msk/brokers"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_msk_cluster" "this" {
  cluster_name           = "finsight-${var.environment}"
  kafka_version          = var.kafka_version
  number_of_broker_nodes = var.broker_count
  enhanced_monitoring    = "PER_TOPIC_PER_BROKER"
  tags                   = var.tags

  broker_node_group_info {
    instance_type   = var.broker_instance_type
    client_subnets  = var.subnet_ids
    security_groups = [aws_security_group.brokers.id]

    storage_info {
      ebs_storage_info {
        volume_size = var.broker_volume_size_gb
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this.arn
    revision = aws_msk_configuration.this.latest_revision
  }

  client_authentication {
    unauthenticated = false

    sasl {
      iam = true
    }
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = var.kms_key_arn

    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  open_monitoring {
    prometheus {
      jmx_exporter {
        enabled_in_broker = true
      }
      node_exporter {
        enabled_in_broker = true
      }
    }
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.brokers.name
      }
    }
  }
}
