"""Pure transforms of merchant_enrichment: 30 days of payments -> one profile per merchant."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from finsight_spark.mcc import is_high_risk_mcc, mcc_category
from finsight_spark.schemas import conform
from finsight_spark.tables import MERCHANTS

PAYMENTS_TABLE = "lake.payments_clean"
OUTPUT_TABLE = "lake.merchants"
WINDOW_DAYS = 30

# Payments that moved money (declined, pending and merely authorized ones did not).
COMPLETED_STATUSES = ("CAPTURED", "SETTLED", "REFUNDED", "CHARGED_BACK")
# Card scheme monitoring: Visa's early-warning chargeback ratio is 0.9%, excessive 1.8%.
CHARGEBACK_RATE_HIGH = 0.009
CHARGEBACK_RATE_MEDIUM = 0.005
REFUND_RATE_MEDIUM = 0.05
RATE_TYPE = "decimal(9,6)"


def latest_transactions(payments: DataFrame) -> DataFrame:
    """Each transaction once, in its newest state within the window (a transaction is in the
    partition of every day it changed)."""
    newest = Window.partitionBy("transaction_id").orderBy(F.col("updated_at").desc(), F.col("ds").desc())
    return payments.withColumn("_rank", F.row_number().over(newest)).where(F.col("_rank") == 1).drop("_rank")


def _ratio(numerator: Column, denominator: Column) -> Column:
    return F.when(denominator > 0, F.bround(numerator / denominator, 6)).otherwise(F.lit(0)).cast(RATE_TYPE)


def merchant_profiles(transactions: DataFrame) -> DataFrame:
    """One row per merchant from its latest transactions."""
    completed = F.col("status").isin(*COMPLETED_STATUSES)
    newest = F.col("updated_at")
    profiles = transactions.groupBy("merchant_id").agg(
        F.max_by("merchant_name", newest).alias("merchant_name"),
        F.max_by("merchant_mcc", newest).alias("merchant_mcc"),
        F.max_by("merchant_country", newest).alias("merchant_country"),
        F.min("created_at").alias("first_seen_at"),
        F.max("updated_at").alias("last_seen_at"),
        F.count(F.when(completed, True)).alias("payments_30d"),
        F.coalesce(F.sum(F.when(completed, F.col("amount_usd"))), F.lit(0)).cast("decimal(20,2)").alias("volume_usd_30d"),
        F.count_distinct(F.when(completed, F.col("customer_id"))).alias("customers_30d"),
        F.count(F.when(F.col("status") == "REFUNDED", True)).alias("_refunds"),
        F.count(F.when(F.col("status") == "CHARGED_BACK", True)).alias("_chargebacks"),
    )
    refund_rate = _ratio(F.col("_refunds"), F.col("payments_30d"))
    chargeback_rate = _ratio(F.col("_chargebacks"), F.col("payments_30d"))
    high_risk = is_high_risk_mcc(F.col("merchant_mcc"))
    tier = (
        F.when(high_risk | (chargeback_rate >= CHARGEBACK_RATE_HIGH), "HIGH")
        .when((chargeback_rate >= CHARGEBACK_RATE_MEDIUM) | (refund_rate >= REFUND_RATE_MEDIUM), "MEDIUM")
        .otherwise("LOW")
    )
    return profiles.withColumns(
        {
            "mcc_category": mcc_category(F.col("merchant_mcc")),
            "avg_ticket_usd_30d": F.when(
                F.col("payments_30d") > 0, F.bround(F.col("volume_usd_30d") / F.col("payments_30d"), 2)
            ).cast("decimal(18,2)"),
            "refund_rate_30d": refund_rate,
            "chargeback_rate_30d": chargeback_rate,
            "is_high_risk_mcc": high_risk,
            "risk_tier": tier,
        }
    )


def merchants(payments: DataFrame) -> DataFrame:
    """lake.merchants from the window's lake.payments_clean partitions."""
    valid = payments.where(F.col("merchant_id").isNotNull())
    return conform(merchant_profiles(latest_transactions(valid)), MERCHANTS)
