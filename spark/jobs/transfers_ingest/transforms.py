"""Pure transforms of transfers_ingest: transfer events of a day -> one row per transfer.

`transfer_state` keeps everything the events say about a transfer (the job's data-quality checks read
it); `published` projects it onto the table's columns: the type of transfer, the counterparty's country,
the amount and FinSight's fee in minor units, and the lifecycle timestamps.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from finsight_spark.money import is_iso_currency, to_minor_units
from finsight_spark.schemas import code, conform
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
# FinSight's tariff for sending money: wires are charged (domestic, international) in the major unit of
# the transfer's currency; every other rail, and anything received or moved between FinSight accounts,
# is free.
WIRE_FEES = {
    "EUR": ("5.00", "15.00"),
    "USD": ("5.00", "15.00"),
    "GBP": ("4.00", "12.00"),
    "CHF": ("5.00", "15.00"),
    "JPY": ("700", "2000"),
}
DEFAULT_WIRE_FEES = WIRE_FEES["USD"]


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


def published(state: DataFrame) -> DataFrame:
    """The columns of lake.transfers.

    A transfer is `internal` between two FinSight accounts (book transfers), `international` when the two
    institutions are in different countries and `domestic` otherwise; the counterparty is the other
    institution's country (none for internal transfers).
    """
    internal = (F.col("direction") == "INTERNAL") | (F.col("rail") == "INTERNAL_BOOK")
    transfer_type = (
        F.when(internal, "internal").when(F.col("is_cross_border"), "international").otherwise("domestic")
    )
    counterparty = (
        F.when(internal, F.lit(None))
        .when(F.col("direction") == "INBOUND", F.col("source_country"))
        .otherwise(F.col("destination_country"))
    )
    wire_fee = F.lit(DEFAULT_WIRE_FEES[0]), F.lit(DEFAULT_WIRE_FEES[1])
    for currency, (domestic_fee, international_fee) in WIRE_FEES.items():
        is_currency = F.col("currency") == currency
        wire_fee = (
            F.when(is_currency, F.lit(domestic_fee)).otherwise(wire_fee[0]),
            F.when(is_currency, F.lit(international_fee)).otherwise(wire_fee[1]),
        )
    fee = (
        F.when(internal | (F.col("direction") != "OUTBOUND") | (F.col("rail") != "WIRE"), F.lit("0"))
        .when(F.col("is_cross_border"), wire_fee[1])
        .otherwise(wire_fee[0])
        .cast("decimal(18,2)")
    )
    return state.select(
        "transfer_id",
        "source_account_id",
        "destination_account_id",
        counterparty.alias("counterparty_country"),
        transfer_type.alias("transfer_type"),
        code(F.col("rail")).alias("rail"),
        code(F.col("status")).alias("status"),
        "currency",
        to_minor_units(F.col("amount"), F.col("currency")).alias("amount_minor"),
        to_minor_units(fee, F.col("currency")).alias("fee_minor"),
        "initiated_at",
        "completed_at",
        F.col("last_event_at").alias("updated_at"),
    )


def transfers(state: DataFrame) -> DataFrame:
    """lake.transfers from the day's transfer states (`transfer_state(transfer_events(decoded))`)."""
    return conform(published(state), TRANSFERS)
