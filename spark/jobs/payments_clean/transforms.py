"""Pure transforms of payments_clean: valid events -> latest state per transaction -> USD amounts."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from finsight_spark.money import RATE, REPORTING_CURRENCY, is_iso_currency, to_reporting_currency
from finsight_spark.schemas import conform
from finsight_spark.tables import PAYMENTS_CLEAN

RAW_TABLE = "lake.payments_raw"
FX_TABLE = "lake.fx_rates_daily"
OUTPUT_TABLE = "lake.payments_clean"
# A rate may be carried forward over a weekend or a bank holiday, never longer.
FX_MAX_AGE_DAYS = 7


def valid_events(raw: DataFrame) -> DataFrame:
    """Events that can be cleaned: decoded, identified, a positive amount in an ISO currency.
    Each event_id once (the stream deduplicates within two hours; this covers replays)."""
    valid = (
        F.col("decode_error").isNull()
        & F.col("transaction_id").isNotNull()
        & F.col("event_id").isNotNull()
        & (F.col("amount") > 0)
        & is_iso_currency(F.col("currency"))
    )
    return raw.where(valid).dropDuplicates(["event_id"])


def latest_state(events: DataFrame, run_date: date) -> DataFrame:
    """One row per transaction: its last event of the day (by event time, then Kafka offset)."""
    by_transaction = Window.partitionBy("transaction_id")
    newest_first = by_transaction.orderBy(F.col("updated_at").desc(), F.col("kafka_offset").desc())
    return (
        events.withColumn("_rank", F.row_number().over(newest_first))
        .withColumn("event_count", F.count(F.lit(1)).over(by_transaction).cast("int"))
        .where(F.col("_rank") == 1)
        .drop("_rank")
        .withColumnRenamed("event_id", "last_event_id")
        .withColumn("created_date", F.to_date("created_at"))
        .withColumn("is_new_today", F.to_date("created_at") == F.lit(run_date))
    )


def usd_mid_rates(fx_daily: DataFrame) -> DataFrame:
    """(currency, rate_date, usd_rate): the closing mid rate of each currency into USD."""
    return fx_daily.where((F.col("quote_currency") == REPORTING_CURRENCY) & (F.col("rate_type") == "MID")).select(
        F.col("base_currency").alias("fx_currency"),
        F.col("rate_date").alias("fx_rate_date"),
        F.col("close_rate").cast(RATE).alias("fx_rate_to_usd"),
    )


def convert_to_usd(payments: DataFrame, rates: DataFrame) -> DataFrame:
    """Add `fx_rate_to_usd`, `fx_rate_date`, `amount_usd`, `fee_amount_usd`.

    The rate is the latest close on or before the day of the payment's last event, at most
    `FX_MAX_AGE_DAYS` old (an as-of join); USD converts at 1. No rate leaves the USD columns null,
    which the job's data-quality check turns into a failure.
    """
    payment_day = F.to_date("updated_at")
    keyed = payments.withColumn("_payment_day", payment_day)
    candidates = keyed.join(
        rates,
        (F.col("currency") == F.col("fx_currency"))
        & (F.col("fx_rate_date") <= F.col("_payment_day"))
        & (F.col("fx_rate_date") > F.date_sub(F.col("_payment_day"), FX_MAX_AGE_DAYS)),
        "left",
    )
    newest_rate = Window.partitionBy("transaction_id").orderBy(F.col("fx_rate_date").desc_nulls_last())
    chosen = candidates.withColumn("_rank", F.row_number().over(newest_rate)).where(F.col("_rank") == 1)
    is_usd = F.col("currency") == REPORTING_CURRENCY
    with_rate = chosen.withColumn(
        "fx_rate_to_usd", F.when(is_usd, F.lit(1).cast(RATE)).otherwise(F.col("fx_rate_to_usd"))
    ).withColumn("fx_rate_date", F.when(is_usd, F.col("_payment_day")).otherwise(F.col("fx_rate_date")))
    return (
        with_rate.withColumn("amount_usd", to_reporting_currency(F.col("amount"), F.col("fx_rate_to_usd")))
        .withColumn("fee_amount_usd", to_reporting_currency(F.col("fee_amount"), F.col("fx_rate_to_usd")))
        .drop("_rank", "_payment_day", "fx_currency")
    )


def payments_clean(raw: DataFrame, fx_daily: DataFrame, run_date: date) -> DataFrame:
    """lake.payments_clean for `run_date` from that day's raw events and the recent daily rates."""
    return conform(convert_to_usd(latest_state(valid_events(raw), run_date), usd_mid_rates(fx_daily)), PAYMENTS_CLEAN)
