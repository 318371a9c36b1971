from __future__ import annotations

from datetime import date
from decimal import Decimal

from accounts_snapshot.main import build_parser, run
from accounts_snapshot.transforms import OUTPUT_TABLE, TOPIC, account_changes, apply_changes
from finsight_spark.avro import decode_value, load_topic_schema
from finsight_spark.io import read_table
from finsight_spark.tables import ACCOUNTS_SNAPSHOT
from finsight_spark.testing import account_change, at, kafka_frame, publish, table_frame
from finsight_spark.topics import TopicSource

FLAGS = {"is_joint": False, "overdraft_enabled": True, "paperless_statements": True, "sanctions_hold": False}


def _changes(spark, schema_root, records):
    frame = kafka_frame(spark, TOPIC, records, schema_root=schema_root)
    return account_changes(decode_value(frame, load_topic_schema(TOPIC, schema_root)))


def previous_row(account_id, status, changed_at, customer_id="cus-1"):
    return {"account_id": account_id, "customer_id": customer_id, "account_type": "current", "status": status,
            "currency": "EUR", "country_code": "IE", "customer_segment": "retail",
            "opened_at": at("2024-01-10T09:00:00"), "snapshot_date": date(2024, 4, 30), "updated_at": at(changed_at)}


def test_latest_change_wins_and_stale_replays_are_ignored(spark, schema_root):
    previous = table_frame(spark, "lake.accounts_snapshot", [
        previous_row("acc-1", "active", "2024-04-20T10:00:00"),
        previous_row("acc-2", "active", "2024-04-30T10:00:00", customer_id="cus-2"),
        previous_row("acc-3", "dormant", "2024-03-01T10:00:00", customer_id="cus-3"),
    ])
    changes = _changes(spark, schema_root, [
        account_change(account_id="acc-1", change_type="UPDATED", changed_at=at("2024-05-01T09:00:00"), flags=FLAGS,
                       overdraft_limit=Decimal("500.00")),
        account_change(account_id="acc-1", change_type="FROZEN", status="FROZEN", changed_at=at("2024-05-01T17:30:00"),
                       flags={**FLAGS, "sanctions_hold": True}, overdraft_limit=Decimal("500.00")),
        # A replay of an older state of acc-2 from the compacted topic.
        account_change(account_id="acc-2", change_type="OPENED", status="ACTIVE", changed_at=at("2024-01-11T09:00:00")),
        account_change(account_id="acc-4", change_type="OPENED", changed_at=at("2024-05-01T12:00:00"),
                       account_type="BUSINESS_CURRENT", address={"country_code": "de", "region": None, "city": "Berlin",
                                                                 "postal_code": "10115"}),
        account_change(account_id="acc-5", change_type="CLOSED", status="CLOSED", changed_at=at("2024-05-01T12:00:00"),
                       closed_at=at("2024-05-01T12:00:00")),
    ])
    rows = {r.account_id: r for r in apply_changes(previous, changes, date(2024, 5, 1)).collect()}

    assert sorted(rows) == ["acc-1", "acc-2", "acc-3", "acc-4", "acc-5"]
    acc1 = rows["acc-1"]
    assert (acc1.status, acc1.updated_at) == ("frozen", at("2024-05-01T17:30:00").replace(tzinfo=None))
    assert rows["acc-2"].updated_at == at("2024-04-30T10:00:00").replace(tzinfo=None)  # the replay changed nothing
    assert (rows["acc-3"].status, rows["acc-3"].customer_segment) == ("dormant", "retail")  # carried forward
    acc4 = rows["acc-4"]
    assert (acc4.account_type, acc4.country_code, acc4.snapshot_date) == ("business_current", "DE", date(2024, 5, 1))
    # cus-1 now holds a business account: every account of the customer says so
    assert {rows[a].customer_segment for a in ("acc-1", "acc-4", "acc-5")} == {"sme"}
    assert (rows["acc-5"].status, rows["acc-5"].closed_at) == ("closed", at("2024-05-01T12:00:00").replace(tzinfo=None))


def test_consecutive_days_build_on_each_other_and_reruns_are_stable(spark, schema_root, tmp_path, lake):
    source = TopicSource.files(tmp_path / "topics")
    publish(source, TOPIC, [
        account_change(account_id="acc-1", changed_at=at("2024-05-01T09:00:00")),
        account_change(account_id="acc-2", changed_at=at("2024-05-01T10:00:00")),
        account_change(account_id="acc-1", change_type="CLOSED", status="CLOSED", changed_at=at("2024-05-02T08:00:00"),
                       closed_at=at("2024-05-02T08:00:00")),
    ], schema_root=schema_root)
    base = ["--base-path", lake, "--schema-root", str(schema_root), "--source", "files", "--source-path", source.location]
    day1 = build_parser().parse_args(["--run-date", "2024-05-01", *base])
    day2 = build_parser().parse_args(["--run-date", "2024-05-02", *base])
    run(spark, day1, source)
    run(spark, day2, source)
    run(spark, day2, source)

    def snapshot(day):
        return {r.account_id: r.status for r in read_table(spark, lake, OUTPUT_TABLE, ds_from=day, ds_to=day).collect()}

    assert snapshot("2024-05-01") == {"acc-1": "active", "acc-2": "active"}
    assert snapshot("2024-05-02") == {"acc-1": "closed", "acc-2": "active"}
    assert set(read_table(spark, lake, OUTPUT_TABLE).columns) == {*ACCOUNTS_SNAPSHOT.fieldNames(), "ds"}
