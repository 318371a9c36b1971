from __future__ import annotations

from datetime import date
from decimal import Decimal

from finsight_spark.avro import decode_value, load_topic_schema
from finsight_spark.io import read_table
from finsight_spark.testing import at, kafka_frame, publish, transfer_event
from finsight_spark.topics import TopicSource
from transfers_ingest.main import build_parser, run
from transfers_ingest.transforms import OUTPUT_TABLE, TOPIC, transfer_events, transfer_state, transfers

FX = {"target_currency": "GBP", "rate": Decimal("0.85410000"), "target_amount": Decimal("213.53"), "rate_id": "q-77"}


def _state(spark, schema_root, records):
    decoded = decode_value(kafka_frame(spark, TOPIC, records, schema_root=schema_root), load_topic_schema(TOPIC, schema_root))
    return transfer_state(transfer_events(decoded))


def _by_id(frame):
    return {row.transfer_id: row for row in frame.collect()}


def test_timeline_and_latest_status_per_transfer(spark, schema_root):
    events = [
        transfer_event(transfer_id="t1", event_type="INITIATED", occurred_at=at("2024-05-01T09:00:00"), fx=FX),
        transfer_event(transfer_id="t1", event_type="SUBMITTED", occurred_at=at("2024-05-01T09:00:30"), fx=FX),
        transfer_event(transfer_id="t1", event_type="COMPLETED", occurred_at=at("2024-05-01T09:02:00"), fx=FX,
                       value_date=date(2024, 5, 1)),
        transfer_event(transfer_id="t1", event_type="COMPLETED", occurred_at=at("2024-05-01T09:02:00"), fx=FX),  # dup
        transfer_event(transfer_id="t2", event_type="SUBMITTED", rail="ACH", currency="USD",
                       occurred_at=at("2024-05-01T15:00:00")),
        transfer_event(transfer_id="t2", event_type="RETURNED", rail="ACH", currency="USD", failure_code="R01",
                       occurred_at=at("2024-05-01T21:00:00")),
        transfer_event(transfer_id="t3", event_type="INITIATED", amount=Decimal("0.00")),  # invalid amount
    ]
    state = _state(spark, schema_root, events)
    rows = _by_id(state)

    assert set(rows) == {"t1", "t2"}
    t1 = rows["t1"]
    assert (t1.status, t1.event_count, t1.settlement_seconds) == ("COMPLETED", 3, 120)
    assert (t1.target_currency, t1.target_amount, t1.fx_rate) == ("GBP", Decimal("213.53"), Decimal("0.85410000"))
    assert t1.is_cross_border is True and t1.value_date == date(2024, 5, 1)
    t2 = rows["t2"]
    assert (t2.status, t2.failure_code, t2.returned_at) == ("RETURNED", "R01", at("2024-05-01T21:00:00").replace(tzinfo=None))
    assert t2.initiated_at is None and t2.settlement_seconds is None  # initiated on an earlier day

    published = _by_id(transfers(state))
    assert (published["t1"].status, published["t1"].transfer_type, published["t1"].counterparty_country) == (
        "completed", "international", "FR"
    )
    assert (published["t1"].amount_minor, published["t1"].fee_minor, published["t1"].rail) == (25000, 0, "sepa_credit_transfer")
    assert published["t1"].updated_at == at("2024-05-01T09:02:00").replace(tzinfo=None)
    assert (published["t2"].status, published["t2"].currency, published["t2"].transfer_type) == ("returned", "USD", "international")


def test_types_counterparties_and_fees(spark, schema_root):
    domestic = {"account_id": None, "institution_id": "DEUTDEFFXXX", "account_number_masked": "DE**********9876",
                "country_code": "DE", "holder_type": "BUSINESS"}
    own = {"account_id": "acc-0002", "institution_id": "FSDEDEFFXXX", "account_number_masked": "DE**************2222",
           "country_code": "DE", "holder_type": "INDIVIDUAL"}
    remitter = {"account_id": None, "institution_id": "CHASUS33XXX", "account_number_masked": "********4321",
                "country_code": "US", "holder_type": "BUSINESS"}
    receiving = {"account_id": "acc-0001", "institution_id": "FSDEDEFFXXX", "account_number_masked": "DE**************1234",
                 "country_code": "DE", "holder_type": "INDIVIDUAL"}
    rows = _by_id(transfers(_state(spark, schema_root, [
        transfer_event(transfer_id="wire-intl", rail="WIRE", currency="USD"),
        transfer_event(transfer_id="wire-dom", rail="WIRE", destination=domestic),
        transfer_event(transfer_id="book", rail="INTERNAL_BOOK", direction="INTERNAL", destination=own),
        transfer_event(transfer_id="incoming", rail="WIRE", direction="INBOUND", source=remitter, destination=receiving),
        transfer_event(transfer_id="jpy", rail="WIRE", currency="JPY", amount=Decimal("125000.00")),
    ])))

    assert (rows["wire-intl"].transfer_type, rows["wire-intl"].fee_minor) == ("international", 1500)
    assert (rows["wire-dom"].transfer_type, rows["wire-dom"].counterparty_country, rows["wire-dom"].fee_minor) == (
        "domestic", "DE", 500
    )
    book = rows["book"]
    assert (book.transfer_type, book.counterparty_country, book.fee_minor) == ("internal", None, 0)
    assert (book.source_account_id, book.destination_account_id) == ("acc-0001", "acc-0002")
    incoming = rows["incoming"]
    assert (incoming.counterparty_country, incoming.source_account_id, incoming.fee_minor) == ("US", None, 0)
    assert (rows["jpy"].amount_minor, rows["jpy"].fee_minor) == (125000, 2000)  # no minor unit in yen


def test_run_reads_only_the_run_date_and_is_idempotent(spark, schema_root, tmp_path, lake):
    source = TopicSource.files(tmp_path / "topics")
    publish(source, TOPIC, [
        transfer_event(transfer_id="t1", occurred_at=at("2024-05-01T23:59:59")),
        transfer_event(transfer_id="t2", occurred_at=at("2024-05-02T00:00:00")),
    ], schema_root=schema_root)
    args = build_parser().parse_args(["--run-date", "2024-05-01", "--base-path", lake, "--source", "files",
                                      "--source-path", source.location, "--schema-root", str(schema_root)])
    run(spark, args, source)
    run(spark, args, source)
    assert [row.transfer_id for row in read_table(spark, lake, OUTPUT_TABLE).collect()] == ["t1"]
