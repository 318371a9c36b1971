"""Pure transforms of accounts_snapshot: apply one day of account changes to yesterday's snapshot."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from finsight_spark.schemas import conform
from finsight_spark.tables import ACCOUNTS_SNAPSHOT

TOPIC = "accounts.changes.v1"
OUTPUT_TABLE = "lake.accounts_snapshot"

STATE_COLUMNS = (
    "account_id",
    "customer_id",
    "account_type",
    "status",
    "currency",
    "product_code",
    "overdraft_limit",
    "country_code",
    "region",
    "is_joint",
    "overdraft_enabled",
    "sanctions_hold",
    "opened_at",
    "closed_at",
    "last_change_type",
    "last_changed_at",
    "last_change_id",
)


def account_changes(decoded: DataFrame) -> DataFrame:
    """Valid changes, each change_id once, in the snapshot's column names (plus the Kafka offset)."""
    record = F.col("record")
    changes = decoded.where(F.col("decode_error").isNull()).select(
        record.account_id.alias("account_id"),
        record.customer_id.alias("customer_id"),
        record.account_type.alias("account_type"),
        record.status.alias("status"),
        F.upper(record.currency).alias("currency"),
        record.product_code.alias("product_code"),
        record.overdraft_limit.alias("overdraft_limit"),
        F.upper(record.address.country_code).alias("country_code"),
        record.address.region.alias("region"),
        record.flags.is_joint.alias("is_joint"),
        record.flags.overdraft_enabled.alias("overdraft_enabled"),
        record.flags.sanctions_hold.alias("sanctions_hold"),
        record.opened_at.alias("opened_at"),
        record.closed_at.alias("closed_at"),
        record.change_type.alias("last_change_type"),
        record.changed_at.alias("last_changed_at"),
        record.change_id.alias("last_change_id"),
        F.col("kafka_offset"),
    )
    return changes.where(F.col("account_id").isNotNull()).dropDuplicates(["last_change_id"])


def apply_changes(previous: DataFrame, changes: DataFrame, run_date: date) -> DataFrame:
    """The snapshot at the end of `run_date`.

    For each account the newest state wins, by change time; on a tie a change of the day beats the
    previous snapshot and a later Kafka offset beats an earlier one. A change older than the state
    already in the snapshot (a replay of the compacted topic) therefore changes nothing.
    `first_snapshot_date` is the first day the account appeared.
    """
    carried = previous.select(
        *STATE_COLUMNS, "first_snapshot_date", F.lit(0).alias("_priority"), F.lit(-1).cast("long").alias("kafka_offset")
    )
    fresh = changes.select(
        *STATE_COLUMNS,
        F.lit(None).cast("date").alias("first_snapshot_date"),
        F.lit(1).alias("_priority"),
        F.col("kafka_offset"),
    )
    candidates = carried.unionByName(fresh)
    by_account = Window.partitionBy("account_id")
    newest = by_account.orderBy(F.col("last_changed_at").desc(), F.col("_priority").desc(), F.col("kafka_offset").desc())
    snapshot = (
        candidates.withColumns(
            {
                "_rank": F.row_number().over(newest),
                "_first_seen": F.min("first_snapshot_date").over(by_account),
            }
        )
        .where(F.col("_rank") == 1)
        .withColumns(
            {
                "first_snapshot_date": F.coalesce(F.col("_first_seen"), F.lit(run_date)),
                "is_open": F.col("status") != "CLOSED",
            }
        )
    )
    return conform(snapshot, ACCOUNTS_SNAPSHOT)
