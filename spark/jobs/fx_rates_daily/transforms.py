"""Pure transforms of fx_rates_daily: treasury's mid quotes of one day -> one reference rate per pair.

The lake publishes end-of-day reference rates: the closing mid rate of each currency pair. Bid, ask
and customer rates on the same topic are the pricing service's business and are not landed.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from finsight_spark.money import RATE, is_iso_currency
from finsight_spark.schemas import code, conform
from finsight_spark.tables import FX_RATES_DAILY

TOPIC = "fx.rates.v1"
OUTPUT_TABLE = "lake.fx_rates_daily"
PAIR = ("base_currency", "quote_currency")
# The reference rate type. Only mid rates are inverted: an inverted bid is an ask of the reverse pair.
REFERENCE_RATE_TYPE = "MID"


def fx_quotes(decoded: DataFrame) -> DataFrame:
    """Valid mid quotes: decodable, ISO currencies, two different currencies, a positive rate; one row
    per (pair, sequence) since the compacted topic can replay an update."""
    record = F.col("record")
    quotes = decoded.where(F.col("decode_error").isNull()).select(
        F.upper(record.base_currency).alias("base_currency"),
        F.upper(record.quote_currency).alias("quote_currency"),
        record.rate_type.alias("rate_type"),
        record.rate.alias("rate"),
        code(record.source).alias("source"),
        record.sequence.alias("sequence"),
        record.as_of.alias("as_of"),
        record.published_at.alias("published_at"),
    )
    valid = (
        (F.col("rate_type") == REFERENCE_RATE_TYPE)
        & is_iso_currency(F.col("base_currency"))
        & is_iso_currency(F.col("quote_currency"))
        & (F.col("base_currency") != F.col("quote_currency"))
        & (F.col("rate") > 0)
    )
    return quotes.where(valid).dropDuplicates([*PAIR, "sequence"])


def daily_rates(quotes: DataFrame, run_date: date) -> DataFrame:
    """The closing quote of each pair among the quotes whose market time is `run_date`: its rate, source
    and publication time.

    Order follows the per-key `sequence`, not arrival: an update that arrives late but carries an older
    sequence can never become the close.
    """
    of_day = quotes.where(F.to_date("as_of") == F.lit(run_date))
    return of_day.groupBy(*PAIR).agg(
        F.max_by("rate", "sequence").alias("rate"),
        F.max_by("source", "sequence").alias("source"),
        F.max_by("published_at", "sequence").alias("published_at"),
    ).withColumn("rate_date", F.lit(run_date))


def _invert(rate: str):
    return F.bround(F.lit(1).cast(RATE) / F.col(rate), 8).cast(RATE)


def with_inverse_pairs(daily: DataFrame) -> DataFrame:
    """Add the inverse of every rate whose reverse pair treasury did not quote itself."""
    inverses = daily.select(
        F.col("quote_currency").alias("base_currency"),
        F.col("base_currency").alias("quote_currency"),
        _invert("rate").alias("rate"),
        F.col("source"),
        F.col("published_at"),
        F.col("rate_date"),
    )
    missing = inverses.join(daily.select(*PAIR), list(PAIR), "left_anti")
    return daily.unionByName(missing)


def fx_rates_daily(decoded: DataFrame, run_date: date) -> DataFrame:
    """lake.fx_rates_daily for `run_date` from the day's decoded fx.rates.v1 records."""
    return conform(with_inverse_pairs(daily_rates(fx_quotes(decoded), run_date)), FX_RATES_DAILY)
