from __future__ import annotations

from decimal import Decimal

from finsight_spark.avro import decode_value, load_topic_schema
from finsight_spark.io import read_table
from finsight_spark.testing import at, kafka_frame, payment_event, publish
from finsight_spark.topics import TopicSource
from payments_stream_ingest.main import build_parser, start
from payments_stream_ingest.transforms import OUTPUT_TABLE, TOPIC, payments_raw


def _decoded(spark, schema_root, records, raw_values=()):
    frame = kafka_frame(spark, TOPIC, records, schema_root=schema_root, raw_values=raw_values)
    return decode_value(frame, load_topic_schema(TOPIC, schema_root))


def test_flattens_records_into_contract_columns(spark, schema_root):
    event = payment_event(transaction_id="01HXA", amount=Decimal("19.99"), currency="eur", fee_amount=Decimal("0.25"))
    [row] = payments_raw(_decoded(spark, schema_root, [event])).collect()

    assert row.transaction_id == "01HXA"
    assert row.amount == Decimal("19.99") and row.fee_amount == Decimal("0.25")
    assert row.currency == "EUR"
    assert (row.merchant_id, row.merchant_mcc, row.card_network) == ("mer-0001", "5411", "VISA")
    assert row.trace_id == "trace-01HXA"
    assert row.decode_error is None
    assert row.ds == "2024-05-01"


def test_duplicate_events_are_dropped_but_distinct_bad_payloads_kept(spark, schema_root):
    captured = payment_event(transaction_id="01HXB", status="CAPTURED")
    settled = payment_event(transaction_id="01HXB", status="SETTLED", updated_at=at("2024-05-01T18:00:00"))
    rows = payments_raw(
        _decoded(spark, schema_root, [captured, captured, settled], raw_values=[b"\x00not-avro", b"\x03\x00short"])
    ).collect()

    good = sorted(row.status for row in rows if row.decode_error is None)
    bad = [row for row in rows if row.decode_error is not None]
    assert good == ["CAPTURED", "SETTLED"]
    assert len(bad) == 2 and all(row.transaction_id is None for row in bad)


def test_stream_lands_each_event_once_across_restarts(spark, schema_root, tmp_path, lake):
    source = TopicSource.files(tmp_path / "topics")
    checkpoint = str(tmp_path / "checkpoint")
    args = build_parser().parse_args(
        ["--base-path", lake, "--checkpoint", checkpoint, "--source", "files", "--source-path", source.location,
         "--available-now", "--schema-root", str(schema_root)]
    )
    first = payment_event(transaction_id="01HXC")
    second = payment_event(transaction_id="01HXD", currency="GBP", updated_at=at("2024-05-02T00:10:00"))
    publish(source, TOPIC, [first, second, first], schema_root=schema_root, file_name="batch-1.json")

    start(spark, args).awaitTermination()
    landed = read_table(spark, lake, OUTPUT_TABLE)
    assert sorted((row.transaction_id, row.ds) for row in landed.collect()) == [
        ("01HXC", "2024-05-01"),
        ("01HXD", "2024-05-02"),
    ]

    # Same checkpoint, nothing new: nothing is written twice.
    start(spark, args).awaitTermination()
    assert read_table(spark, lake, OUTPUT_TABLE).count() == 2

    # A new file with one new event and a re-sent old one: only the new event lands.
    third = payment_event(transaction_id="01HXE", updated_at=at("2024-05-02T00:20:00"))
    publish(source, TOPIC, [third, second], schema_root=schema_root, file_name="batch-2.json", first_offset=3)
    start(spark, args).awaitTermination()
    ids = sorted(row.transaction_id for row in read_table(spark, lake, OUTPUT_TABLE).collect())
    assert ids == ["01HXC", "01HXD", "01HXE"]
