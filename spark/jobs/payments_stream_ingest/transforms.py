"""Pure transforms of the payments ingest stream (they work on batch and streaming frames alike)."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from finsight_spark.schemas import conform
from finsight_spark.tables import PAYMENTS_RAW, partitioned

TOPIC = "payments.transactions.v1"
OUTPUT_TABLE = "lake.payments_raw"

# Producer retries re-send an event within seconds; two hours of state also covers a broker failover.
# The watermark follows the Kafka timestamp, not updated_at, so a payment whose status changes days
# after creation is never dropped as late.
DEDUP_WATERMARK = "2 hours"


def flatten_payment_events(decoded: DataFrame) -> DataFrame:
    """One column per payment attribute; `ds` is the Kafka arrival date (complete once a day is over)."""
    record = F.col("record")
    return decoded.select(
        record.event_id.alias("event_id"),
        record.transaction_id.alias("transaction_id"),
        record.account_id.alias("account_id"),
        record.customer_id.alias("customer_id"),
        record.amount.alias("amount"),
        F.upper(F.trim(record.currency)).alias("currency"),
        record.fee_amount.alias("fee_amount"),
        record.status.alias("status"),
        record.payment_method.alias("payment_method"),
        record.channel.alias("channel"),
        record.merchant.merchant_id.alias("merchant_id"),
        F.trim(record.merchant["name"]).alias("merchant_name"),
        record.merchant.mcc.alias("merchant_mcc"),
        F.upper(record.merchant.country_code).alias("merchant_country"),
        record.merchant.city.alias("merchant_city"),
        record.card.card_id.alias("card_id"),
        record.card.bin.alias("card_bin"),
        record.card.network.alias("card_network"),
        record.card.funding_type.alias("card_funding_type"),
        record.device.device_id.alias("device_id"),
        record.device.ip_address.alias("ip_address"),
        record.created_at.alias("created_at"),
        record.updated_at.alias("updated_at"),
        record.metadata.getItem("trace_id").alias("trace_id"),
        F.col("decode_error"),
        F.col("kafka_partition"),
        F.col("kafka_offset"),
        F.col("kafka_timestamp"),
        F.date_format("kafka_timestamp", "yyyy-MM-dd").alias("ds"),
    )


def deduplicate_events(events: DataFrame) -> DataFrame:
    """Drop re-sent events (same event_id) seen within the watermark.

    An undecodable payload has no event_id; its Kafka coordinates identify it instead, so two
    different bad payloads are both kept.
    """
    key = F.coalesce(
        F.col("event_id"),
        F.concat_ws(":", F.lit("kafka"), F.col("kafka_partition").cast("string"), F.col("kafka_offset").cast("string")),
    )
    keyed = events.withColumn("_dedup_key", key)
    if keyed.isStreaming:
        deduplicated = keyed.withWatermark("kafka_timestamp", DEDUP_WATERMARK).dropDuplicatesWithinWatermark(["_dedup_key"])
    else:  # a replay or a test: the whole frame is one window
        deduplicated = keyed.dropDuplicates(["_dedup_key"])
    return deduplicated.drop("_dedup_key")


def payments_raw(decoded: DataFrame) -> DataFrame:
    """lake.payments_raw from decoded Kafka records: flattened, deduplicated, conformed."""
    return conform(deduplicate_events(flatten_payment_events(decoded)), partitioned(PAYMENTS_RAW))
