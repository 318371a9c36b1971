from __future__ import annotations

from datetime import date
from decimal import Decimal

from finsight_spark.avro import decode_value, load_topic_schema
from finsight_spark.io import read_table
from finsight_spark.testing import at, fx_rate, kafka_frame, publish
from finsight_spark.topics import TopicSource
from fx_rates_daily.main import build_parser, run
from fx_rates_daily.transforms import OUTPUT_TABLE, TOPIC, fx_rates_daily

RUN_DATE = date(2024, 5, 1)


def _rates(spark, schema_root, records):
    decoded = decode_value(kafka_frame(spark, TOPIC, records, schema_root=schema_root), load_topic_schema(TOPIC, schema_root))
    return {(r.base_currency, r.quote_currency): r for r in fx_rates_daily(decoded, RUN_DATE).collect()}


def test_close_follows_sequence_not_arrival(spark, schema_root):
    quotes = [
        fx_rate(rate=Decimal("1.07500000"), sequence=10, as_of=at("2024-05-01T08:00:00")),
        fx_rate(rate=Decimal("1.08200000"), sequence=12, as_of=at("2024-05-01T16:00:00"), source="ECB_REFERENCE",
                published_at=at("2024-05-01T16:05:00")),
        # Arrives last but is older: must not become the close.
        fx_rate(rate=Decimal("1.07000000"), sequence=11, as_of=at("2024-05-01T12:00:00")),
        fx_rate(rate=Decimal("1.07000000"), sequence=11, as_of=at("2024-05-01T12:00:00")),  # replayed update
        fx_rate(rate=Decimal("1.09900000"), sequence=9, as_of=at("2024-04-30T23:00:00")),  # previous market day
        fx_rate(rate=Decimal("1.06000000"), sequence=13, rate_type="CUSTOMER_SELL"),  # not a reference rate
    ]
    eur_usd = _rates(spark, schema_root, quotes)[("EUR", "USD")]

    assert (eur_usd.rate, eur_usd.source) == (Decimal("1.08200000"), "ecb_reference")
    assert eur_usd.published_at == at("2024-05-01T16:05:00").replace(tzinfo=None)
    assert eur_usd.rate_date == RUN_DATE


def test_inverse_rates_are_derived_only_when_not_quoted(spark, schema_root):
    quotes = [
        fx_rate(base_currency="USD", quote_currency="JPY", rate=Decimal("157.25000000"), sequence=1),
        fx_rate(base_currency="GBP", quote_currency="USD", rate=Decimal("1.25000000"), sequence=1),
        fx_rate(base_currency="USD", quote_currency="GBP", rate=Decimal("0.79990000"), sequence=1),
        fx_rate(base_currency="EUR", quote_currency="USD", rate_type="CUSTOMER_SELL", rate=Decimal("1.06000000"), sequence=1),
        fx_rate(base_currency="EUR", quote_currency="EUR", rate=Decimal("1.00000000"), sequence=1),  # invalid pair
    ]
    rates = _rates(spark, schema_root, quotes)

    jpy_usd = rates[("JPY", "USD")]
    assert jpy_usd.rate == Decimal("0.00635930") and jpy_usd.source == "refinitiv"
    assert rates[("USD", "GBP")].rate == Decimal("0.79990000")  # quoted, not derived
    assert ("EUR", "USD") not in rates and ("USD", "EUR") not in rates  # customer rates are not landed
    assert ("EUR", "EUR") not in rates
    assert sorted(rates) == [("GBP", "USD"), ("JPY", "USD"), ("USD", "GBP"), ("USD", "JPY")]


def test_run_reads_the_day_from_the_topic_and_is_idempotent(spark, schema_root, tmp_path, lake):
    source = TopicSource.files(tmp_path / "topics")
    publish(
        source, TOPIC,
        [fx_rate(sequence=1), fx_rate(base_currency="CHF", rate=Decimal("1.10000000"), sequence=4),
         fx_rate(sequence=2, as_of=at("2024-05-02T09:00:00"), published_at=at("2024-05-02T09:00:01"))],
        schema_root=schema_root,
    )
    args = build_parser().parse_args(["--run-date", "2024-05-01", "--base-path", lake, "--source", "files",
                                      "--source-path", source.location, "--schema-root", str(schema_root)])
    run(spark, args, source)
    run(spark, args, source)

    written = read_table(spark, lake, OUTPUT_TABLE, ds_from="2024-05-01", ds_to="2024-05-01")
    pairs = sorted((r.base_currency, r.quote_currency) for r in written.collect())
    assert pairs == [("CHF", "USD"), ("EUR", "USD"), ("USD", "CHF"), ("USD", "EUR")]
