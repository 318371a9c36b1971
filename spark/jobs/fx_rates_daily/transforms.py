"""Pure transforms of fx_rates_daily: treasury quotes of one day -> one row per pair and rate type."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from finsight_spark.money import RATE, is_iso_currency
from finsight_spark.schemas import conform
from finsight_spark.tables import FX_RATES_DAILY

TOPIC = "fx.rates.v1"
OUTPUT_TABLE = "lake.fx_rates_daily"
PAIR = ("base_currency", "quote_currency", "rate_type")
# Only mid rates are inverted: an inverted bid is an ask of the reverse pair, not a rate treasury quotes.
INVERTIBLE_RATE_TYPES = ("MID",)


def fx_quotes(decoded: DataFrame) -> DataFrame:
    """Valid quotes: decodable, ISO currencies, two different currencies, a positive rate; one row per
    (pair, rate type, sequence) since the compacted topic can replay an update."""
    record = F.col("record")
    quotes = decoded.where(F.col("decode_error").isNull()).select(
        F.upper(record.base_currency).alias("base_currency"),
        F.upper(record.quote_currency).alias("quote_currency"),
        record.rate_type.alias("rate_type"),
        record.rate.alias("rate"),
        record.source.alias("source"),
        record.sequence.alias("sequence"),
        record.as_of.alias("as_of"),
    )
    valid = (
        is_iso_currency(F.col("base_currency"))
        & is_iso_currency(F.col("quote_currency"))
        & (F.col("base_currency") != F.col("quote_currency"))
        & (F.col("rate") > 0)
    )
    return quotes.where(valid).dropDuplicates([*PAIR, "sequence"])


def daily_rates(quotes: DataFrame, run_date: date) -> DataFrame:
    """Open, close, high, low of each pair and rate type over the quotes whose market time is `run_date`.

    Order follows the per-key `sequence`, not arrival: an update that arrives late but carries an older
    sequence can never become the close.
    """
    of_day = quotes.where(F.to_date("as_of") == F.lit(run_date))
    return of_day.groupBy(*PAIR).agg(
        F.min_by("rate", "sequence").alias("open_rate"),
        F.max_by("rate", "sequence").alias("close_rate"),
        F.max("rate").alias("high_rate"),
        F.min("rate").alias("low_rate"),
        F.count(F.lit(1)).cast("int").alias("quote_count"),
        F.max("sequence").alias("last_sequence"),
        F.max_by("source", "sequence").alias("close_source"),
    ).withColumn("rate_date", F.lit(run_date)).withColumn("is_derived", F.lit(False))


def _invert(rate: str):
    return F.bround(F.lit(1).cast(RATE) / F.col(rate), 8).cast(RATE)


def with_inverse_pairs(daily: DataFrame) -> DataFrame:
    """Add the inverse of every mid rate whose reverse pair treasury did not quote itself."""
    mids = daily.where(F.col("rate_type").isin(*INVERTIBLE_RATE_TYPES))
    inverses = mids.select(
        F.col("quote_currency").alias("base_currency"),
        F.col("base_currency").alias("quote_currency"),
        F.col("rate_type"),
        _invert("open_rate").alias("open_rate"),
        _invert("close_rate").alias("close_rate"),
        _invert("low_rate").alias("high_rate"),
        _invert("high_rate").alias("low_rate"),
        F.col("quote_count"),
        F.col("last_sequence"),
        F.col("close_source"),
        F.col("rate_date"),
        F.lit(True).alias("is_derived"),
    )
    missing = inverses.join(daily.select(*PAIR), list(PAIR), "left_anti")
    return daily.unionByName(missing)


def fx_rates_daily(decoded: DataFrame, run_date: date) -> DataFrame:
    """lake.fx_rates_daily for `run_date` from the day's decoded fx.rates.v1 records."""
    return conform(with_inverse_pairs(daily_rates(fx_quotes(decoded), run_date)), FX_RATES_DAILY)
