"""Pure transforms of aml_features: transfers, KYC and accounts -> transaction-monitoring features per
customer.

A transfer is a leg of each FinSight customer it debits or credits (a move between two accounts of the
same customer is neither). Values are in USD at compliance's monitoring rates (`MONITORING_RATES_TO_USD`):
thresholds are defined "in USD or the equivalent", and the rates are set each quarter by the MLRO so a
month's alerts do not move with the market. Structuring compares amounts in the transfer's own
currency with the reporting threshold, as the regulators' guidance does.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from finsight_spark.dates import end_of_day
from finsight_spark.money import from_minor_units
from finsight_spark.schemas import conform
from finsight_spark.tables import AML_FEATURES

TRANSFERS_TABLE = "lake.transfers"
KYC_TABLE = "lake.kyc_events"
ACCOUNTS_TABLE = "lake.accounts_snapshot"
OUTPUT_TABLE = "lake.aml_features"
WINDOW_DAYS = 30
KYC_LOOKBACK_DAYS = 730

# FATF "call for action" and increased-monitoring jurisdictions FinSight blocks or reviews.
HIGH_RISK_COUNTRIES = ("KP", "IR", "MM", "SY", "YE", "AF", "HT", "SS")
# Reporting threshold structuring tries to stay under (USD 10,000 CTR; the same figure in EUR/GBP).
REPORTING_THRESHOLD = 10000
STRUCTURING_FLOOR = 9000
# Just-below-threshold transfers in 7 days that flag structuring; customers under enhanced due
# diligence are flagged earlier.
STRUCTURING_TRANSFERS = 3
STRUCTURING_TRANSFERS_ENHANCED = 2
EXCLUDED_STATUSES = ("cancelled", "failed")
# Velocity: this week's legs against the three full weeks before it; the standard deviation is floored
# at one leg so that a customer with a steady trickle does not produce huge scores.
BASELINE_WEEKS = 3
MIN_VELOCITY_STDDEV = 1.0
MAX_ABS_ZSCORE = 9999.99

MONITORING_RATES_VERSION = "2024-Q2"
MONITORING_RATES_TO_USD = {
    "USD": "1.00000000",
    "EUR": "1.08000000",
    "GBP": "1.27000000",
    "CHF": "1.10000000",
    "JPY": "0.00640000",
    "CAD": "0.73000000",
    "AUD": "0.66000000",
    "NZD": "0.61000000",
    "SEK": "0.09400000",
    "NOK": "0.09300000",
    "DKK": "0.14500000",
    "PLN": "0.25000000",
    "CZK": "0.04300000",
    "HUF": "0.00270000",
    "SGD": "0.74000000",
    "HKD": "0.12800000",
    "AED": "0.27230000",
    "MXN": "0.05800000",
}
AMOUNT = "decimal(18,2)"


def monitoring_rate(currency: Column) -> Column:
    """USD per unit of `currency` at the monitoring rates; null for a currency without one."""
    rates = F.create_map(*[F.lit(item) for pair in MONITORING_RATES_TO_USD.items() for item in pair])
    return rates[currency].cast("decimal(18,8)")


def latest_transfers(transfers: DataFrame, run_date: date) -> DataFrame:
    """Each transfer once in its newest state, with the day it started, within the window."""
    newest = Window.partitionBy("transfer_id").orderBy(F.col("updated_at").desc(), F.col("ds").desc())
    started = F.to_date(F.coalesce("initiated_at", "updated_at"))
    return (
        transfers.withColumn("_rank", F.row_number().over(newest))
        .where((F.col("_rank") == 1) & ~F.col("status").isin(*EXCLUDED_STATUSES))
        .withColumn("transfer_day", started)
        .where(F.col("transfer_day").between(F.date_sub(F.lit(run_date), WINDOW_DAYS - 1), F.lit(run_date)))
        .drop("_rank")
    )


def transfer_legs(transfers: DataFrame, accounts: DataFrame, run_date: date) -> DataFrame:
    """One row per customer side of a transfer: `customer_id`, `side` (`in`/`out`), the week it fell
    in (0 = the seven days to `run_date`), the amount in its currency and in USD."""
    holders = accounts.select("account_id", "customer_id").dropDuplicates(["account_id"])
    sources = holders.select(F.col("account_id").alias("source_account_id"), F.col("customer_id").alias("_debited"))
    targets = holders.select(F.col("account_id").alias("destination_account_id"), F.col("customer_id").alias("_credited"))
    rate = monitoring_rate(F.col("currency"))
    amount = from_minor_units(F.col("amount_minor"), F.col("currency"))
    parties = (
        transfers.join(sources, "source_account_id", "left")
        .join(targets, "destination_account_id", "left")
        .withColumns(
            {
                "_own": F.coalesce(F.col("_debited") == F.col("_credited"), F.lit(False)),
                "amount": amount,
                "usd_rate": rate,
                "amount_usd": F.bround(amount * rate, 2).cast(AMOUNT),
                "week": F.floor(F.datediff(F.lit(run_date), F.col("transfer_day")) / 7).cast("int"),
            }
        )
        .where(~F.col("_own"))
    )
    columns = ["transfer_id", "week", "currency", "amount", "usd_rate", "amount_usd", "counterparty_country"]
    outbound = parties.where(F.col("_debited").isNotNull()).select(
        F.col("_debited").alias("customer_id"), F.lit("out").alias("side"), *columns
    )
    inbound = parties.where(F.col("_credited").isNotNull()).select(
        F.col("_credited").alias("customer_id"), F.lit("in").alias("side"), *columns
    )
    return outbound.unionByName(inbound)


def kyc_levels(kyc_events: DataFrame) -> DataFrame:
    """(customer_id, kyc_level): the due diligence level of each customer's latest KYC event that names one."""
    return kyc_events.where(F.col("kyc_level").isNotNull()).groupBy("customer_id").agg(
        F.max_by("kyc_level", "occurred_at").alias("kyc_level")
    )


def leg_features(legs: DataFrame) -> DataFrame:
    """Per customer: counts and USD values over 30 days, structuring and the velocity z-score."""
    out = F.col("side") == "out"
    just_below_threshold = (F.col("amount") >= STRUCTURING_FLOOR) & (F.col("amount") < REPORTING_THRESHOLD)

    def total(condition: Column) -> Column:
        return F.coalesce(F.sum(F.when(condition, F.col("amount_usd"))), F.lit(0)).cast(AMOUNT)

    def in_week(week: int) -> Column:
        return F.count(F.when(F.col("week") == week, True)).cast("double")

    features = legs.groupBy("customer_id").agg(
        F.count(F.lit(1)).cast("int").alias("txn_count_30d"),
        total(~out).alias("inbound_amount_usd_30d"),
        total(out).alias("outbound_amount_usd_30d"),
        F.count(F.when(F.col("counterparty_country").isin(*HIGH_RISK_COUNTRIES), True))
        .cast("int")
        .alias("high_risk_country_transfers_30d"),
        F.count(F.when(out & (F.col("week") == 0) & just_below_threshold, True)).alias("structuring_count_7d"),
        *[in_week(week).alias(f"_week_{week}") for week in range(BASELINE_WEEKS + 1)],
    )
    baseline = [F.col(f"_week_{week}") for week in range(1, BASELINE_WEEKS + 1)]
    mean = sum(baseline, F.lit(0.0)) / BASELINE_WEEKS
    variance = sum(((week - mean) ** 2 for week in baseline), F.lit(0.0)) / BASELINE_WEEKS
    zscore = (F.col("_week_0") - mean) / F.greatest(F.sqrt(variance), F.lit(MIN_VELOCITY_STDDEV))
    clamped = F.least(F.greatest(F.bround(zscore, 2), F.lit(-MAX_ABS_ZSCORE)), F.lit(MAX_ABS_ZSCORE))
    return features.withColumn("velocity_zscore", clamped.cast("decimal(6,2)"))


def aml_features(transfers: DataFrame, kyc_events: DataFrame, accounts: DataFrame, run_date: date) -> DataFrame:
    """lake.aml_features for `run_date`: every customer with an account that is not closed in the day's
    snapshot; a customer without transfers has zero counts and values."""
    customers = accounts.where(F.col("status") != "closed").select("customer_id").distinct()
    legs = transfer_legs(latest_transfers(transfers, run_date), accounts, run_date)
    threshold = F.when(F.col("kyc_level") == "enhanced", STRUCTURING_TRANSFERS_ENHANCED).otherwise(STRUCTURING_TRANSFERS)
    features = (
        customers.join(leg_features(legs), "customer_id", "left")
        .join(kyc_levels(kyc_events), "customer_id", "left")
        .fillna(0, subset=["txn_count_30d", "high_risk_country_transfers_30d", "structuring_count_7d"])
        .withColumns(
            {
                "inbound_amount_usd_30d": F.coalesce(F.col("inbound_amount_usd_30d"), F.lit(0).cast(AMOUNT)),
                "outbound_amount_usd_30d": F.coalesce(F.col("outbound_amount_usd_30d"), F.lit(0).cast(AMOUNT)),
                "velocity_zscore": F.coalesce(F.col("velocity_zscore"), F.lit(0).cast("decimal(6,2)")),
                "structuring_flag": F.col("structuring_count_7d") >= threshold,
                "feature_date": F.lit(run_date),
                "computed_at": F.lit(end_of_day(run_date)),
            }
        )
    )
    return conform(features, AML_FEATURES)
