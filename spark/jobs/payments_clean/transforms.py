"""Pure transforms of payments_clean: valid events -> latest state per payment -> USD amounts -> the
published columns (payment_id, amounts in minor units, lower-case codes)."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from finsight_spark.money import RATE, REPORTING_CURRENCY, is_iso_currency, to_minor_units, to_reporting_currency
from finsight_spark.schemas import code, conform
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


def latest_state(events: DataFrame) -> DataFrame:
    """One row per transaction: its last event of the day (by event time, then Kafka offset)."""
    newest_first = Window.partitionBy("transaction_id").orderBy(F.col("updated_at").desc(), F.col("kafka_offset").desc())
    return events.withColumn("_rank", F.row_number().over(newest_first)).where(F.col("_rank") == 1).drop("_rank")


def usd_rates(fx_daily: DataFrame) -> DataFrame:
    """(fx_currency, fx_rate_date, fx_rate_to_usd): the daily reference rate of each currency into USD."""
    return fx_daily.where(F.col("quote_currency") == REPORTING_CURRENCY).select(
        F.col("base_currency").alias("fx_currency"),
        F.col("rate_date").alias("fx_rate_date"),
        F.col("rate").cast(RATE).alias("fx_rate_to_usd"),
    )


def convert_to_usd(payments: DataFrame, rates: DataFrame) -> DataFrame:
    """Add `fx_rate_to_usd`, `fx_rate_date` and `amount_usd`.

    The rate is the latest reference rate on or before the day of the payment's last event, at most
    `FX_MAX_AGE_DAYS` old (an as-of join); USD converts at 1. No rate leaves `amount_usd` null, which
    the job's data-quality check turns into a failure.
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
    return with_rate.withColumn(
        "amount_usd", to_reporting_currency(F.col("amount"), F.col("fx_rate_to_usd"))
    ).drop("_rank", "_payment_day", "fx_currency")


def published(payments: DataFrame) -> DataFrame:
    """The columns of lake.payments_clean: ids and codes as its consumers name them, the amount as an
    integer count of the currency's minor units, the merchant's country as the payment's country."""
    return payments.select(
        F.col("transaction_id").alias("payment_id"),
        "account_id",
        "merchant_id",
        "card_id",
        code(F.col("payment_method")).alias("payment_method"),
        code(F.col("channel")).alias("channel"),
        code(F.col("status")).alias("status"),
        "currency",
        to_minor_units(F.col("amount"), F.col("currency")).alias("amount_minor"),
        F.col("merchant_country").alias("country_code"),
        "created_at",
        "updated_at",
        "merchant_name",
        F.lpad(F.col("merchant_mcc"), 4, "0").alias("mcc"),
        code(F.col("card_network")).alias("card_network"),
        "amount_usd",
    )


def payments_clean(raw: DataFrame, fx_daily: DataFrame) -> DataFrame:
    """lake.payments_clean from one day's raw events and the recent daily rates."""
    return conform(published(convert_to_usd(latest_state(valid_events(raw)), usd_rates(fx_daily))), PAYMENTS_CLEAN)
