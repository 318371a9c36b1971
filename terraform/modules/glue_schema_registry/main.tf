# The Glue Schema Registry of the Kafka topics: one schema per topic, named after the topic, whose
# definition is the topic's kafka/topics/<topic>/schema.avsc. A changed schema.avsc registers a new
# schema version, which Glue accepts only if it is compatible under the topic's mode.

locals {
  schemas_root = coalesce(var.schemas_root, "${path.module}/../../../kafka/topics")

  # topic.toml modes -> Glue compatibility settings
  glue_compatibility = {
    NONE                = "NONE"
    BACKWARD            = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_ALL"
    FORWARD             = "FORWARD"
    FORWARD_TRANSITIVE  = "FORWARD_ALL"
    FULL                = "FULL"
    FULL_TRANSITIVE     = "FULL_ALL"
  }
}

resource "aws_glue_registry" "this" {
  registry_name = "finsight-${var.environment}-kafka"
  description   = "Avro schemas of the FinSight Kafka topics (${var.environment})."
  tags          = var.tags
}

resource "aws_glue_schema" "topic" {
  for_each = var.topics

  schema_name       = each.key
  registry_arn      = aws_glue_registry.this.arn
  data_format       = "AVRO"
  compatibility     = local.glue_compatibility[each.value.compatibility]
  schema_definition = file("${local.schemas_root}/${each.key}/schema.avsc")
  description       = each.value.description
  tags              = merge(var.tags, { Topic = each.key })
}
