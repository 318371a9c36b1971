from __future__ import annotations

from datetime import date

import pytest

from finsight_spark.avro import decode_value, load_topic_schema
from finsight_spark.dq import DataQualityError
from finsight_spark.io import read_table
from finsight_spark.testing import at, kafka_frame, kyc_event, publish
from finsight_spark.topics import TopicSource
from kyc_ingest.main import build_parser, run
from kyc_ingest.transforms import OUTPUT_TABLE, TOPIC, kyc_event_details, kyc_events

PASSPORT = {"document_type": "PASSPORT", "issuing_country": "irl", "expiry_date": date(2031, 3, 1),
            "verification_status": "VERIFIED"}
SCREENING = {"list_version": "ofac-2024-05-01", "hits": 2, "is_match_confirmed": False}


def test_flattens_documents_screening_and_outcomes(spark, schema_root):
    events = [
        kyc_event(event_type="CHECK_STARTED"),
        kyc_event(event_type="DOCUMENT_VERIFIED", document=PASSPORT, occurred_at=at("2024-05-01T08:01:00")),
        kyc_event(event_type="SANCTIONS_SCREENED", screening=SCREENING, occurred_at=at("2024-05-01T08:02:00")),
        kyc_event(event_type="CHECK_PASSED", risk_rating="MEDIUM", reason_codes=["PEP_NEAR_MATCH", "PEP_NEAR_MATCH"],
                  occurred_at=at("2024-05-01T08:03:00")),
        kyc_event(event_type="CHECK_PASSED", risk_rating="MEDIUM", occurred_at=at("2024-05-01T08:03:00")),  # replay
    ]
    frame = kafka_frame(spark, TOPIC, events, schema_root=schema_root)
    details = kyc_event_details(decode_value(frame, load_topic_schema(TOPIC, schema_root)))
    rows = {r.event_type: r for r in details.collect()}

    assert len(rows) == 4
    doc = rows["DOCUMENT_VERIFIED"]
    assert (doc.document_type, doc.document_country, doc.document_expiry_date) == ("PASSPORT", "IRL", date(2031, 3, 1))
    assert (rows["SANCTIONS_SCREENED"].screening_hits, rows["SANCTIONS_SCREENED"].check_step) == (2, 5)
    passed = rows["CHECK_PASSED"]
    assert (passed.is_check_outcome, passed.check_outcome, passed.check_step) == (True, "PASSED", 8)
    assert passed.reason_codes == ["PEP_NEAR_MATCH"]
    assert rows["CHECK_STARTED"].check_outcome is None

    published = {r.event_type: r for r in kyc_events(details).collect()}
    assert set(published) == {"check_started", "document_verified", "sanctions_screened", "check_passed"}
    check_passed = published["check_passed"]
    assert (check_passed.kyc_level, check_passed.provider, check_passed.reason) == ("standard", "onfido", "pep_near_match")
    assert published["check_started"].reason is None


def test_run_lands_the_day_and_rejects_unattributed_enhanced_decisions(spark, schema_root, tmp_path, lake):
    good, bad = TopicSource.files(tmp_path / "good"), TopicSource.files(tmp_path / "bad")
    publish(good, TOPIC, [kyc_event(check_id="c1"), kyc_event(check_id="c1", event_type="CHECK_FAILED",
                                                               reason_codes=["DOC_EXPIRED"])], schema_root=schema_root)
    publish(bad, TOPIC, [kyc_event(check_id="c2", event_type="CHECK_PASSED", check_level="ENHANCED")],
            schema_root=schema_root)
    argv = ["--run-date", "2024-05-01", "--base-path", lake, "--schema-root", str(schema_root), "--source", "files"]
    args = build_parser().parse_args([*argv, "--source-path", good.location])
    run(spark, args, good)
    run(spark, args, good)
    assert read_table(spark, lake, OUTPUT_TABLE).count() == 2

    with pytest.raises(DataQualityError, match="reviewer"):
        run(spark, args, bad)
