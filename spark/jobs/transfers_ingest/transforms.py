"""Pure transforms of transfers_ingest: transfer events of a day -> one row per transfer."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from finsight_spark.money import is_iso_currency
from finsight_spark.schemas import conform
from finsight_spark.tables import TRANSFERS

TOPIC = "transfers.events.v1"
OUTPUT_TABLE = "lake.transfers"

# Timeline columns: the first time the transfer reached each step.
MILESTONES = {
    "initiated_at": "INITIATED",
    "submitted_at": "SUBMITTED",
    "completed_at": "COMPLETED",
    "failed_at": "FAILED",
    "returned_at": "RETURNED",
}
# Attributes taken from the transfer's latest event (an amendment before submission can change them).
LATEST_ATTRIBUTES = (
    "rail",
    "direction",
    "source_account_id",
    "source_country",
    "destination_account_id",
    "destination_institution_id",
    "destination_account_masked",
    "destination_country",
    "amount",
    "currency",
    "target_currency",
    "target_amount",
    "fx_rate",
    "initiated_by",
)


def transfer_events(decoded: DataFrame) -> DataFrame:
    """Valid, flattened events, each event_id once."""
    record = F.col("record")
    events = decoded.where(F.col("decode_error").isNull()).select(
        record.event_id.alias("event_id"),
        record.transfer_id.alias("transfer_id"),
        record.event_type.alias("event_type"),
        record.rail.alias("rail"),
        record.direction.alias("direction"),
        record.source.account_id.alias("source_account_id"),
        F.upper(record.source.country_code).alias("source_country"),
        record.destination.account_id.alias("destination_account_id"),
        record.destination.institution_id.alias("destination_institution_id"),
        record.destination.account_number_masked.alias("destination_account_masked"),
        F.upper(record.destination.country_code).alias("destination_country"),
        record.amount.alias("amount"),
        F.upper(record.currency).alias("currency"),
        F.upper(record.fx.target_currency).alias("target_currency"),
        record.fx.target_amount.alias("target_amount"),
        record.fx.rate.alias("fx_rate"),
        record.failure_code.alias("failure_code"),
        record.initiated_by.alias("initiated_by"),
        record.occurred_at.alias("occurred_at"),
        record.value_date.alias("value_date"),
        F.col("kafka_offset"),
    )
    valid = F.col("transfer_id").isNotNull() & (F.col("amount") > 0) & is_iso_currency(F.col("currency"))
    return events.where(valid).dropDuplicates(["event_id"])


def transfer_state(events: DataFrame) -> DataFrame:
    """One row per transfer: latest status and attributes, milestones, settlement time."""
    order = F.struct("occurred_at", "kafka_offset")
    latest = F.max_by(F.struct(*LATEST_ATTRIBUTES), order)
    state = events.groupBy("transfer_id").agg(
        F.max_by("event_type", order).alias("status"),
        latest.alias("_latest"),
        *[F.min(F.when(F.col("event_type") == step, F.col("occurred_at"))).alias(name) for name, step in MILESTONES.items()],
        F.max_by("failure_code", F.when(F.col("failure_code").isNotNull(), order)).alias("failure_code"),
        F.max("occurred_at").alias("last_event_at"),
        F.max("value_date").alias("value_date"),
        F.count(F.lit(1)).cast("int").alias("event_count"),
    )
    settlement = F.unix_timestamp("completed_at") - F.unix_timestamp("initiated_at")
    return state.select("*", "_latest.*").drop("_latest").withColumns(
        {
            "is_cross_border": F.col("source_country") != F.col("destination_country"),
            "settlement_seconds": F.when(settlement >= 0, settlement),
        }
    )


def transfers(decoded: DataFrame) -> DataFrame:
    """lake.transfers for one day from its decoded transfers.events.v1 records."""
    return conform(transfer_state(transfer_events(decoded)), TRANSFERS)
