from __future__ import annotations

from decimal import Decimal

from card_auth_stream_ingest.main import build_parser, start
from card_auth_stream_ingest.transforms import OUTPUT_TABLE, TOPIC, card_authorizations_raw
from finsight_spark.avro import decode_value, load_topic_schema
from finsight_spark.io import read_table
from finsight_spark.testing import at, card_authorization, kafka_frame, publish, stable_uuid
from finsight_spark.topics import TopicSource


def _raw(spark, schema_root, records, raw_values=()):
    frame = kafka_frame(spark, TOPIC, records, schema_root=schema_root, raw_values=raw_values)
    return card_authorizations_raw(decode_value(frame, load_topic_schema(TOPIC, schema_root)))


def test_lands_the_consumer_columns(spark, schema_root):
    ecommerce = card_authorization(
        authorization_id=stable_uuid("auth", "ecom"),
        entry_mode="ECOMMERCE",
        is_card_present=False,
        three_ds={"version": "2.2.0", "authentication_result": "AUTHENTICATED", "eci": "05", "challenge_performed": True},
        transaction_amount=Decimal("120.00"),
        transaction_currency="USD",
        billing_amount=Decimal("111.37"),
        requested_at=at("2024-05-01T23:59:59.900000"),
        decided_at=at("2024-05-02T00:00:00.150000"),
    )
    [row] = _raw(spark, schema_root, [ecommerce]).collect()

    assert (row.three_ds_result, row.entry_mode, row.network) == ("authenticated", "ecommerce", "visa")
    assert (row.amount_minor, row.currency) == (12000, "USD")  # the transaction amount, not the billed one
    assert (row.mcc, row.merchant_country, row.response_code) == ("5411", "DE", "00")
    assert row.authorized_at == at("2024-05-02T00:00:00.150000").replace(tzinfo=None)
    assert row.payment_id is None and row.kafka_offset == 0
    assert row.ds == "2024-05-01"  # the request date, not the decision date


def test_replayed_decisions_are_dropped(spark, schema_root):
    declined = card_authorization(
        authorization_id=stable_uuid("auth", "declined"),
        decision="DECLINED",
        response_code="51",
        decline_reason="INSUFFICIENT_FUNDS",
    )
    partial = card_authorization(authorization_id=stable_uuid("auth", "partial"), decision="PARTIALLY_APPROVED", response_code="10")
    rows = {row.authorization_id: row for row in _raw(spark, schema_root, [declined, partial, declined]).collect()}

    assert len(rows) == 2
    assert rows[declined["authorization_id"]].response_code == "51"
    assert rows[partial["authorization_id"]].response_code == "10"
    assert rows[partial["authorization_id"]].three_ds_result is None  # card present: no 3-D Secure


def test_stream_resumes_from_checkpoint(spark, schema_root, tmp_path, lake):
    source = TopicSource.files(tmp_path / "topics")
    args = build_parser().parse_args(
        ["--base-path", lake, "--checkpoint", str(tmp_path / "ckpt"), "--source", "files",
         "--source-path", source.location, "--available-now", "--schema-root", str(schema_root)]
    )
    first = [card_authorization(authorization_id=stable_uuid("auth", n)) for n in range(3)]
    publish(source, TOPIC, first, schema_root=schema_root, file_name="part-1.json", raw_values=[b"garbage"])
    start(spark, args).awaitTermination()
    start(spark, args).awaitTermination()

    landed = read_table(spark, lake, OUTPUT_TABLE)
    assert landed.count() == 3  # the undecodable payload stays on the topic
    assert sorted(row.kafka_offset for row in landed.collect()) == [0, 1, 2]

    publish(source, TOPIC, [card_authorization(authorization_id=stable_uuid("auth", 9))], schema_root=schema_root,
            file_name="part-2.json", first_offset=4)
    start(spark, args).awaitTermination()
    assert read_table(spark, lake, OUTPUT_TABLE).count() == 4
