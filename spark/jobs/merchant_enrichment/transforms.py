"""Pure transforms of merchant_enrichment: 30 days of payments -> one profile per merchant.

The profile names the merchant as its latest payment does, rates its risk from its category and its
refund and chargeback ratios, suspends it at the card schemes' excessive chargeback level, and pays it
out in the currency it is paid most in. `onboarded_at` is the first payment FinSight processed for the
merchant: the earlier of the previous profile's value and the window's first payment.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from finsight_spark.mcc import is_high_risk_mcc
from finsight_spark.schemas import conform
from finsight_spark.tables import MERCHANTS

PAYMENTS_TABLE = "lake.payments_clean"
OUTPUT_TABLE = "lake.merchants"
WINDOW_DAYS = 30

# Payments that moved money (declined, pending and merely authorized ones did not).
COMPLETED_STATUSES = ("captured", "settled", "refunded", "charged_back")
# Card scheme monitoring: Visa's early-warning chargeback ratio is 0.9%, excessive 1.8%.
CHARGEBACK_RATE_EXCESSIVE = 0.018
CHARGEBACK_RATE_HIGH = 0.009
CHARGEBACK_RATE_MEDIUM = 0.005
REFUND_RATE_MEDIUM = 0.05
RATE_TYPE = "decimal(9,6)"


def latest_payments(payments: DataFrame) -> DataFrame:
    """Each payment once, in its newest state within the window (a payment is in the partition of every
    day it changed)."""
    newest = Window.partitionBy("payment_id").orderBy(F.col("updated_at").desc(), F.col("ds").desc())
    return payments.withColumn("_rank", F.row_number().over(newest)).where(F.col("_rank") == 1).drop("_rank")


def _ratio(numerator: Column, denominator: Column) -> Column:
    return F.when(denominator > 0, F.bround(numerator / denominator, 6)).otherwise(F.lit(0)).cast(RATE_TYPE)


def settlement_currencies(payments: DataFrame) -> DataFrame:
    """(merchant_id, settlement_currency): the currency of most of the merchant's payments (the
    alphabetically first on a tie)."""
    counts = payments.groupBy("merchant_id", "currency").count()
    most = Window.partitionBy("merchant_id").orderBy(F.col("count").desc(), F.col("currency"))
    return counts.withColumn("_rank", F.row_number().over(most)).where(F.col("_rank") == 1).select(
        "merchant_id", F.col("currency").alias("settlement_currency")
    )


def merchant_profiles(payments: DataFrame) -> DataFrame:
    """One row per merchant from its latest payments, with its refund and chargeback ratios."""
    completed = F.col("status").isin(*COMPLETED_STATUSES)
    newest = F.col("updated_at")
    profiles = payments.groupBy("merchant_id").agg(
        F.max_by("merchant_name", newest).alias("merchant_name"),
        F.max_by("mcc", newest).alias("mcc"),
        F.max_by("country_code", newest).alias("country_code"),
        F.min("created_at").alias("first_payment_at"),
        F.max("updated_at").alias("updated_at"),
        F.count(F.when(completed, True)).alias("completed_payments"),
        F.count(F.when(F.col("status") == "refunded", True)).alias("_refunds"),
        F.count(F.when(F.col("status") == "charged_back", True)).alias("_chargebacks"),
    )
    refund_rate = _ratio(F.col("_refunds"), F.col("completed_payments"))
    chargeback_rate = _ratio(F.col("_chargebacks"), F.col("completed_payments"))
    tier = (
        F.when(is_high_risk_mcc(F.col("mcc")) | (chargeback_rate >= CHARGEBACK_RATE_HIGH), "high")
        .when((chargeback_rate >= CHARGEBACK_RATE_MEDIUM) | (refund_rate >= REFUND_RATE_MEDIUM), "elevated")
        .otherwise("standard")
    )
    return profiles.withColumns(
        {
            "refund_rate_30d": refund_rate,
            "chargeback_rate_30d": chargeback_rate,
            "risk_tier": tier,
            "status": F.when(chargeback_rate >= CHARGEBACK_RATE_EXCESSIVE, "suspended").otherwise("active"),
        }
    ).join(settlement_currencies(payments), "merchant_id", "left")


def merchants(payments: DataFrame, previous: DataFrame) -> DataFrame:
    """lake.merchants from the window's lake.payments_clean partitions and the previous profiles."""
    valid = payments.where(F.col("merchant_id").isNotNull())
    known = previous.select("merchant_id", F.col("onboarded_at").alias("_previous_onboarded_at"))
    profiles = merchant_profiles(latest_payments(valid)).join(known, "merchant_id", "left")
    onboarded = F.least(F.col("_previous_onboarded_at"), F.col("first_payment_at"))  # least skips nulls
    return conform(profiles.withColumn("onboarded_at", onboarded), MERCHANTS)
