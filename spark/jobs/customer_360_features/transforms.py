"""Pure transforms of customer_360_features: account, payment and fraud features per customer."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from finsight_spark.schemas import conform
from finsight_spark.tables import CUSTOMER_FEATURES

ACCOUNTS_TABLE = "lake.accounts_snapshot"
PAYMENTS_TABLE = "lake.payments_clean"
SCORES_TABLE = "lake.card_fraud_scores"
OUTPUT_TABLE = "lake.customer_features"
WINDOW_DAYS = 30

COMPLETED_STATUSES = ("CAPTURED", "SETTLED", "REFUNDED", "CHARGED_BACK")
HIGH_VALUE_VOLUME_USD = 10000
NEW_CUSTOMER_DAYS = 90


def account_features(accounts: DataFrame, run_date: date) -> DataFrame:
    """Per customer: accounts, tenure, primary currency (of the oldest open account), holds."""
    opened = F.col("opened_at")
    return accounts.groupBy("customer_id").agg(
        F.count(F.lit(1)).cast("int").alias("account_count"),
        F.count(F.when(F.col("is_open"), True)).cast("int").alias("open_account_count"),
        F.min_by("currency", F.when(F.col("is_open"), opened)).alias("primary_currency"),
        F.min(opened).alias("first_account_opened_at"),
        F.datediff(F.lit(run_date), F.to_date(F.min(opened))).alias("tenure_days"),
        F.coalesce(F.max(F.col("is_open") & F.col("overdraft_enabled")), F.lit(False)).alias("has_overdraft"),
        F.coalesce(F.max(F.col("is_open") & F.col("sanctions_hold")), F.lit(False)).alias("sanctions_hold"),
    )


def payment_features(payments: DataFrame, run_date: date) -> DataFrame:
    """Per customer, over the window: completed payments, USD volume, merchants, declines, recency."""
    newest = Window.partitionBy("transaction_id").orderBy(F.col("updated_at").desc(), F.col("ds").desc())
    latest = payments.withColumn("_rank", F.row_number().over(newest)).where(F.col("_rank") == 1)
    completed = F.col("status").isin(*COMPLETED_STATUSES)
    features = latest.groupBy("customer_id").agg(
        F.count(F.when(completed, True)).alias("payments_30d"),
        F.coalesce(F.sum(F.when(completed, F.col("amount_usd"))), F.lit(0)).cast("decimal(20,2)").alias("volume_usd_30d"),
        F.count_distinct(F.when(completed, F.col("merchant_id"))).alias("distinct_merchants_30d"),
        F.count(F.when(F.col("status") == "DECLINED", True)).alias("_declined"),
        F.count(F.lit(1)).alias("_attempts"),
        F.datediff(F.lit(run_date), F.to_date(F.max(F.when(completed, F.col("created_at"))))).alias(
            "days_since_last_payment"
        ),
    )
    return features.withColumns(
        {
            "avg_ticket_usd_30d": F.when(
                F.col("payments_30d") > 0, F.bround(F.col("volume_usd_30d") / F.col("payments_30d"), 2)
            ).cast("decimal(18,2)"),
            "declined_ratio_30d": F.bround(F.col("_declined") / F.col("_attempts"), 6).cast("decimal(9,6)"),
        }
    )


def fraud_features(scores: DataFrame) -> DataFrame:
    """Per customer, over the window: scored authorizations, high-risk ones, the highest score."""
    return scores.dropDuplicates(["authorization_id"]).groupBy("customer_id").agg(
        F.count(F.lit(1)).alias("card_auths_scored_30d"),
        F.count(F.when(F.col("risk_band").isin("HIGH", "CRITICAL"), True)).alias("high_risk_auths_30d"),
        F.max("fraud_score").alias("max_fraud_score_30d"),
    )


def customer_features(accounts: DataFrame, payments: DataFrame, scores: DataFrame, run_date: date) -> DataFrame:
    """lake.customer_features for `run_date`: every customer of the day's accounts snapshot."""
    joined = (
        account_features(accounts, run_date)
        .join(payment_features(payments, run_date), "customer_id", "left")
        .join(fraud_features(scores), "customer_id", "left")
        .fillna(0, subset=["payments_30d", "distinct_merchants_30d", "card_auths_scored_30d", "high_risk_auths_30d"])
        .withColumn("volume_usd_30d", F.coalesce(F.col("volume_usd_30d"), F.lit(0).cast("decimal(20,2)")))
    )
    segment = (
        F.when(F.col("open_account_count") == 0, "CLOSED")
        .when(F.col("tenure_days") < NEW_CUSTOMER_DAYS, "NEW")
        .when(F.col("payments_30d") == 0, "DORMANT")
        .when(F.col("volume_usd_30d") >= HIGH_VALUE_VOLUME_USD, "HIGH_VALUE")
        .otherwise("ACTIVE")
    )
    return conform(joined.withColumn("segment", segment), CUSTOMER_FEATURES)
