from __future__ import annotations

from decimal import Decimal

from finsight_spark.avro import decode_value, load_topic_schema
from finsight_spark.io import read_table
from finsight_spark.testing import at, card_authorization, fraud_signal, kafka_frame, publish, stable_uuid
from finsight_spark.topics import TopicSource
from fraud_signal_stream.main import build_parser, start
from fraud_signal_stream.transforms import (
    AUTHORIZATIONS_TOPIC,
    OUTPUT_TABLE,
    SIGNALS_TOPIC,
    authorization_context,
    enrich_signals,
    flatten_signals,
)

AUTH_ID = stable_uuid("auth", "signal-test")


def _decoded(spark, schema_root, topic, records):
    return decode_value(kafka_frame(spark, topic, records, schema_root=schema_root), load_topic_schema(topic, schema_root))


def test_joins_signal_to_its_authorization_within_the_window(spark, schema_root):
    auth = card_authorization(
        authorization_id=AUTH_ID, card_id="card-0777", billing_amount=Decimal("980.00"),
        requested_at=at("2024-05-01T10:00:00"), decided_at=at("2024-05-01T10:00:00.200000"),
    )
    in_window = fraud_signal(signal_id=stable_uuid("s", 1), entity_id="card-0777", source_event_id=AUTH_ID,
                             signal_type="MODEL_SCORE", score=0.91, severity="HIGH", detected_at=at("2024-05-01T10:00:02"))
    too_late = fraud_signal(signal_id=stable_uuid("s", 2), entity_id="card-0777", source_event_id=AUTH_ID,
                            detected_at=at("2024-05-01T11:00:00"))
    account_signal = fraud_signal(signal_id=stable_uuid("s", 3), entity_type="ACCOUNT", entity_id="acc-0009",
                                  signal_type="MULE_ACCOUNT", score=1.7, detected_at=at("2024-05-01T10:05:00"))
    signals = flatten_signals(_decoded(spark, schema_root, SIGNALS_TOPIC, [in_window, too_late, account_signal]))
    auths = authorization_context(_decoded(spark, schema_root, AUTHORIZATIONS_TOPIC, [auth]))

    rows = {row.signal_id: row for row in enrich_signals(signals, auths).collect()}

    matched = rows[in_window["signal_id"]]
    assert matched.authorization_id == AUTH_ID
    assert (matched.auth_billing_amount, matched.seconds_after_authorization) == (Decimal("980.00"), 2)
    assert matched.card_id == "card-0777" and matched.detector_name == "card-velocity-1h"
    unmatched = rows[too_late["signal_id"]]
    assert unmatched.authorization_id is None and unmatched.card_id == "card-0777"
    account = rows[account_signal["signal_id"]]
    assert account.card_id is None and account.score == 1.0  # clamped to [0, 1]
    assert {row.ds for row in rows.values()} == {"2024-05-01"}


def test_stream_join_keeps_state_across_runs_and_writes_once(spark, schema_root, tmp_path, lake):
    source = TopicSource.files(tmp_path / "topics")
    args = build_parser().parse_args(
        ["--base-path", lake, "--checkpoint", str(tmp_path / "ckpt"), "--source", "files",
         "--source-path", source.location, "--available-now", "--schema-root", str(schema_root)]
    )

    def landed():
        return {row.signal_id: row for row in read_table(spark, lake, OUTPUT_TABLE).collect()}

    auth = card_authorization(authorization_id=AUTH_ID, requested_at=at("2024-05-01T10:00:00"),
                              decided_at=at("2024-05-01T10:00:00.100000"))
    matched = fraud_signal(signal_id=stable_uuid("m"), source_event_id=AUTH_ID, detected_at=at("2024-05-01T10:00:01"))
    orphan = fraud_signal(signal_id=stable_uuid("o"), source_event_id=stable_uuid("auth", "never-published"),
                          detected_at=at("2024-05-01T10:01:00"))
    device = fraud_signal(signal_id=stable_uuid("d"), entity_type="DEVICE", entity_id="dev-42",
                          signal_type="DEVICE_CHANGE", detected_at=at("2024-05-01T10:02:00"))
    publish(source, AUTHORIZATIONS_TOPIC, [auth], schema_root=schema_root, file_name="auth-1.json")
    publish(source, SIGNALS_TOPIC, [matched, orphan, device], schema_root=schema_root, file_name="sig-1.json")

    start(spark, args).awaitTermination()
    assert set(landed()) == {matched["signal_id"], device["signal_id"]}  # the orphan waits for the watermark
    start(spark, args).awaitTermination()
    assert len(landed()) == 2

    # A later signal for the authorization held in state joins it; newer traffic moves the watermark on,
    # which releases the orphan without authorization context.
    follow_up = fraud_signal(signal_id=stable_uuid("f"), source_event_id=AUTH_ID, signal_type="GEO_MISMATCH",
                             detected_at=at("2024-05-01T10:06:00"))
    later_auth = card_authorization(authorization_id=stable_uuid("auth", "later"), requested_at=at("2024-05-01T12:00:00"),
                                    decided_at=at("2024-05-01T12:00:00.100000"))
    later = fraud_signal(signal_id=stable_uuid("l"), source_event_id=later_auth["authorization_id"],
                         detected_at=at("2024-05-01T12:00:01"))
    publish(source, AUTHORIZATIONS_TOPIC, [later_auth], schema_root=schema_root, file_name="auth-2.json", first_offset=1)
    publish(source, SIGNALS_TOPIC, [follow_up, later], schema_root=schema_root, file_name="sig-2.json", first_offset=3)
    start(spark, args).awaitTermination()

    rows = landed()
    assert rows[follow_up["signal_id"]].authorization_id == AUTH_ID
    assert rows[later["signal_id"]].authorization_id == later_auth["authorization_id"]
    assert rows[orphan["signal_id"]].authorization_id is None
    assert len(rows) == 5
    assert read_table(spark, lake, OUTPUT_TABLE).count() == 5  # no signal written twice
