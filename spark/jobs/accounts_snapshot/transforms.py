"""Pure transforms of accounts_snapshot: apply one day of account changes to yesterday's snapshot."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from finsight_spark.schemas import code, conform
from finsight_spark.tables import ACCOUNTS_SNAPSHOT

TOPIC = "accounts.changes.v1"
OUTPUT_TABLE = "lake.accounts_snapshot"

# The state of an account a change carries, in the snapshot's column names.
STATE_COLUMNS = (
    "account_id",
    "customer_id",
    "account_type",
    "status",
    "currency",
    "country_code",
    "opened_at",
    "closed_at",
    "updated_at",
)
# Account types only business customers hold; a customer with one is an SME, every other one retail.
BUSINESS_ACCOUNT_TYPES = ("business_current",)


def account_changes(decoded: DataFrame) -> DataFrame:
    """Valid changes, each change_id once, in the snapshot's column names (plus the Kafka offset)."""
    record = F.col("record")
    changes = decoded.where(F.col("decode_error").isNull()).select(
        record.account_id.alias("account_id"),
        record.customer_id.alias("customer_id"),
        code(record.account_type).alias("account_type"),
        code(record.status).alias("status"),
        F.upper(record.currency).alias("currency"),
        F.upper(record.address.country_code).alias("country_code"),
        record.opened_at.alias("opened_at"),
        record.closed_at.alias("closed_at"),
        record.changed_at.alias("updated_at"),
        record.change_id.alias("change_id"),
        F.col("kafka_offset"),
    )
    return changes.where(F.col("account_id").isNotNull()).dropDuplicates(["change_id"])


def apply_changes(previous: DataFrame, changes: DataFrame, run_date: date) -> DataFrame:
    """The snapshot at the end of `run_date`.

    For each account the newest state wins, by change time; on a tie a change of the day beats the
    previous snapshot and a later Kafka offset beats an earlier one. A change older than the state
    already in the snapshot (a replay of the compacted topic) therefore changes nothing. The
    customer segment is derived over all the customer's accounts in the snapshot.
    """
    carried = previous.select(*STATE_COLUMNS, F.lit(0).alias("_priority"), F.lit(-1).cast("long").alias("kafka_offset"))
    fresh = changes.select(*STATE_COLUMNS, F.lit(1).alias("_priority"), F.col("kafka_offset"))
    newest = Window.partitionBy("account_id").orderBy(
        F.col("updated_at").desc(), F.col("_priority").desc(), F.col("kafka_offset").desc()
    )
    snapshot = (
        carried.unionByName(fresh)
        .withColumn("_rank", F.row_number().over(newest))
        .where(F.col("_rank") == 1)
    )
    is_business = F.max(F.col("account_type").isin(*BUSINESS_ACCOUNT_TYPES)).over(Window.partitionBy("customer_id"))
    return conform(
        snapshot.withColumns(
            {
                "customer_segment": F.when(is_business, "sme").otherwise("retail"),
                "snapshot_date": F.lit(run_date),
            }
        ),
        ACCOUNTS_SNAPSHOT,
    )
