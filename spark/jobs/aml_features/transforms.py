"""Pure transforms of aml_features: transfers, KYC and accounts -> features and rule hits per account.

Amounts are in the account's currency; transfers in another currency are counted, not summed, so a
threshold never compares amounts in different currencies.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

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
EXCLUDED_STATUSES = ("CANCELLED", "FAILED")
ALERT_SCORE = 50
RULE_POINTS = {
    "SANCTIONS": 50,
    "STRUCTURING": 30,
    "HIGH_RISK_GEOGRAPHY": 25,
    "PASS_THROUGH": 25,
    "KYC_HIGH_RISK": 20,
    "NEW_ACCOUNT_HIGH_VOLUME": 20,
    "FAN_OUT": 15,
    "STALE_KYC": 10,
}
AMOUNT = "decimal(20,2)"
RATIO = "decimal(9,6)"


def latest_transfers(transfers: DataFrame, run_date: date) -> DataFrame:
    """Each transfer once in its newest state, with the day it started, within the window."""
    newest = Window.partitionBy("transfer_id").orderBy(F.col("last_event_at").desc(), F.col("ds").desc())
    started = F.to_date(F.coalesce("initiated_at", "submitted_at", "last_event_at"))
    return (
        transfers.withColumn("_rank", F.row_number().over(newest))
        .where((F.col("_rank") == 1) & ~F.col("status").isin(*EXCLUDED_STATUSES))
        .withColumn("transfer_day", started)
        .where(F.col("transfer_day") > F.date_sub(F.lit(run_date), WINDOW_DAYS))
        .drop("_rank")
    )


def _within(days: int, run_date: date) -> Column:
    return F.col("transfer_day") > F.date_sub(F.lit(run_date), days)


def transfer_features(transfers: DataFrame, accounts: DataFrame, run_date: date) -> DataFrame:
    """Per account: outbound and inbound activity over 1, 7 and 30 days."""
    leg_columns = [
        "transfer_id", "status", "amount", "currency", "is_cross_border", "source_country", "destination_country",
        "destination_institution_id", "destination_account_masked", "transfer_day",
    ]
    outbound = transfers.where(F.col("direction").isin("OUTBOUND", "INTERNAL")).select(
        F.col("source_account_id").alias("account_id"), *leg_columns, F.lit("out").alias("_side")
    )
    inbound = transfers.where(F.col("direction").isin("INBOUND", "INTERNAL")).select(
        F.col("destination_account_id").alias("account_id"), *leg_columns, F.lit("in").alias("_side")
    )
    sides = outbound.unionByName(inbound)
    legs = sides.join(accounts.select("account_id", F.col("currency").alias("account_currency")), "account_id")
    out, same_ccy = F.col("_side") == "out", F.col("currency") == F.col("account_currency")
    out_same = out & same_ccy
    beneficiary = F.concat_ws("|", F.col("destination_institution_id"), F.col("destination_account_masked"))
    just_below_threshold = (F.col("amount") >= STRUCTURING_FLOOR) & (F.col("amount") < REPORTING_THRESHOLD)
    high_risk_country = F.col("source_country").isin(*HIGH_RISK_COUNTRIES) | F.col("destination_country").isin(
        *HIGH_RISK_COUNTRIES
    )

    def total(condition: Column) -> Column:
        return F.coalesce(F.sum(F.when(condition, F.col("amount"))), F.lit(0)).cast(AMOUNT)

    return legs.groupBy("account_id").agg(
        F.count(F.when(out & _within(1, run_date), True)).alias("outbound_count_1d"),
        F.count(F.when(out & _within(7, run_date), True)).alias("outbound_count_7d"),
        F.count(F.when(out, True)).alias("outbound_count_30d"),
        total(out_same & _within(7, run_date)).alias("outbound_amount_7d"),
        total(out_same).alias("outbound_amount_30d"),
        total(~out & same_ccy).alias("inbound_amount_30d"),
        F.count(F.when(~same_ccy, True)).alias("foreign_currency_transfers_30d"),
        F.count(F.when(out_same & _within(7, run_date) & just_below_threshold, True)).alias("structuring_count_7d"),
        F.count_distinct(F.when(out, beneficiary)).alias("distinct_beneficiaries_30d"),
        F.count(F.when(out & F.col("is_cross_border"), True)).alias("_cross_border"),
        F.count(F.when(high_risk_country, True)).alias("high_risk_country_transfers_30d"),
        F.count(F.when(F.col("status") == "RETURNED", True)).alias("returned_transfers_30d"),
    )


def kyc_features(kyc_events: DataFrame, run_date: date) -> DataFrame:
    """Per customer: latest risk rating and check outcome, days since the last pass, confirmed matches."""
    def newest(column: str) -> Column:
        return F.max_by(column, F.when(F.col(column).isNotNull(), F.col("occurred_at")))

    last_pass = F.max(F.when(F.col("check_outcome") == "PASSED", F.col("occurred_at")))
    return kyc_events.groupBy("customer_id").agg(
        newest("risk_rating").alias("kyc_risk_rating"),
        newest("check_outcome").alias("kyc_last_outcome"),
        F.datediff(F.lit(run_date), F.to_date(last_pass)).alias("days_since_kyc_pass"),
        F.coalesce(F.max("is_screening_match_confirmed"), F.lit(False)).alias("has_confirmed_screening_match"),
    )


def _rule(code: str, condition: Column) -> tuple[Column, Column]:
    hit = F.coalesce(condition, F.lit(False))
    return F.when(hit, F.lit(RULE_POINTS[code])).otherwise(F.lit(0)), F.when(hit, F.lit(code))


def aml_rules(features: DataFrame) -> DataFrame:
    """Add `aml_rule_hits`, `aml_score` (0-100) and `is_alert`."""
    rules = [
        _rule("SANCTIONS", F.col("has_confirmed_screening_match") | F.col("sanctions_hold")),
        _rule("STRUCTURING", F.col("structuring_count_7d") >= 3),
        _rule("HIGH_RISK_GEOGRAPHY", F.col("high_risk_country_transfers_30d") > 0),
        _rule(
            "PASS_THROUGH",
            (F.col("pass_through_ratio_30d") >= 0.9) & (F.col("inbound_amount_30d") >= REPORTING_THRESHOLD),
        ),
        _rule("KYC_HIGH_RISK", F.col("kyc_risk_rating").isin("HIGH", "PROHIBITED")),
        _rule(
            "NEW_ACCOUNT_HIGH_VOLUME",
            (F.col("account_age_days") < 30) & (F.col("outbound_amount_30d") >= 2 * REPORTING_THRESHOLD),
        ),
        _rule("FAN_OUT", F.col("distinct_beneficiaries_30d") >= 15),
        _rule("STALE_KYC", F.col("days_since_kyc_pass").isNull() | (F.col("days_since_kyc_pass") > 365)),
    ]
    score = F.lit(0)
    for points, _ in rules:
        score = score + points
    score = F.least(score, F.lit(100))
    return features.withColumns(
        {
            "aml_rule_hits": F.array_compact(F.array(*[code for _, code in rules])),
            "aml_score": score,
            "is_alert": score >= ALERT_SCORE,
        }
    )


def aml_features(transfers: DataFrame, kyc_events: DataFrame, accounts: DataFrame, run_date: date) -> DataFrame:
    """lake.aml_features for `run_date`: every open account of the day's snapshot."""
    open_accounts = accounts.where(F.col("is_open"))
    activity = transfer_features(latest_transfers(transfers, run_date), open_accounts, run_date)
    counts = [
        "outbound_count_1d", "outbound_count_7d", "outbound_count_30d", "foreign_currency_transfers_30d",
        "structuring_count_7d", "distinct_beneficiaries_30d", "_cross_border", "high_risk_country_transfers_30d",
        "returned_transfers_30d",
    ]
    amounts = ["outbound_amount_7d", "outbound_amount_30d", "inbound_amount_30d"]
    features = (
        open_accounts.select(
            "account_id",
            "customer_id",
            F.col("currency").alias("account_currency"),
            F.col("status").alias("account_status"),
            F.datediff(F.lit(run_date), F.to_date("opened_at")).alias("account_age_days"),
            F.coalesce(F.col("sanctions_hold"), F.lit(False)).alias("sanctions_hold"),
        )
        .join(activity, "account_id", "left")
        .fillna(0, subset=counts)
        .fillna(0, subset=amounts)
        .join(kyc_features(kyc_events, run_date), "customer_id", "left")
        .withColumns(
            {
                "has_confirmed_screening_match": F.coalesce(F.col("has_confirmed_screening_match"), F.lit(False)),
                "cross_border_ratio_30d": F.when(
                    F.col("outbound_count_30d") > 0, F.bround(F.col("_cross_border") / F.col("outbound_count_30d"), 6)
                ).otherwise(F.lit(0)).cast(RATIO),
                "pass_through_ratio_30d": F.when(
                    F.col("inbound_amount_30d") > 0,
                    F.least(F.bround(F.col("outbound_amount_30d") / F.col("inbound_amount_30d"), 6), F.lit(1)),
                ).otherwise(F.lit(0)).cast(RATIO),
            }
        )
    )
    return conform(aml_rules(features), AML_FEATURES)
