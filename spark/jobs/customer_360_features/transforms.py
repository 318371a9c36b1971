"""Pure transforms of customer_360_features: account, payment and fraud features per customer.

Payments and fraud scores name an account, not a customer: the day's accounts snapshot attributes
them to the customer who holds the account.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from finsight_spark.dates import end_of_day
from finsight_spark.schemas import conform
from finsight_spark.tables import CUSTOMER_FEATURES

ACCOUNTS_TABLE = "lake.accounts_snapshot"
PAYMENTS_TABLE = "lake.payments_clean"
SCORES_TABLE = "lake.card_fraud_scores"
OUTPUT_TABLE = "lake.customer_features"
WINDOW_DAYS = 90

# Payments that moved money (declined, pending and merely authorized ones did not).
COMPLETED_STATUSES = ("captured", "settled", "refunded", "charged_back")
SCORE = "decimal(5,4)"


def _holders(accounts: DataFrame) -> DataFrame:
    return accounts.select("account_id", "customer_id").dropDuplicates(["account_id"])


def account_features(accounts: DataFrame, run_date: date) -> DataFrame:
    """Per customer: days since the first account opened, accounts in active status."""
    return accounts.groupBy("customer_id").agg(
        F.datediff(F.lit(run_date), F.to_date(F.min("opened_at"))).alias("tenure_days"),
        F.count(F.when(F.col("status") == "active", True)).alias("active_accounts"),
    )


def payment_features(payments: DataFrame, accounts: DataFrame) -> DataFrame:
    """Per customer, over the window: completed payments (each in its latest state) and their USD volume."""
    newest = Window.partitionBy("payment_id").orderBy(F.col("updated_at").desc(), F.col("ds").desc())
    latest = payments.withColumn("_rank", F.row_number().over(newest)).where(F.col("_rank") == 1)
    completed = latest.where(F.col("status").isin(*COMPLETED_STATUSES))
    return completed.join(_holders(accounts), "account_id").groupBy("customer_id").agg(
        F.count(F.lit(1)).alias("payments_count_90d"),
        F.sum("amount_usd").alias("payments_amount_usd_90d"),
    )


def fraud_features(scores: DataFrame, accounts: DataFrame) -> DataFrame:
    """Per customer, over the window: mean and highest fraud score of the card authorizations on their
    accounts (each authorization's newest score)."""
    newest = Window.partitionBy("authorization_id").orderBy(F.col("scored_at").desc(), F.col("score_id").desc())
    latest = scores.withColumn("_rank", F.row_number().over(newest)).where(F.col("_rank") == 1)
    return latest.join(_holders(accounts), "account_id").groupBy("customer_id").agg(
        F.bround(F.avg("fraud_score"), 4).cast(SCORE).alias("avg_fraud_score_90d"),
        F.max("fraud_score").cast(SCORE).alias("max_fraud_score_90d"),
    )


def customer_features(accounts: DataFrame, payments: DataFrame, scores: DataFrame, run_date: date) -> DataFrame:
    """lake.customer_features for `run_date`: every customer of the day's accounts snapshot.

    A customer without payments has zero count and volume; without scored authorizations, no scores.
    """
    joined = (
        account_features(accounts, run_date)
        .join(payment_features(payments, accounts), "customer_id", "left")
        .join(fraud_features(scores, accounts), "customer_id", "left")
        .fillna(0, subset=["payments_count_90d"])
        .withColumns(
            {
                "payments_amount_usd_90d": F.coalesce(F.col("payments_amount_usd_90d"), F.lit(0)),
                "feature_date": F.lit(run_date),
                "computed_at": F.lit(end_of_day(run_date)),
            }
        )
    )
    return conform(joined, CUSTOMER_FEATURES)
