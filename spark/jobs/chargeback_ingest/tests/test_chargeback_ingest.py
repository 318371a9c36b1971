from __future__ import annotations

from datetime import date, datetime

import pytest

from chargeback_ingest.main import build_parser, run
from chargeback_ingest.transforms import OUTPUT_TABLE, chargebacks
from finsight_spark.dq import DataQualityError
from finsight_spark.io import read_table
from finsight_spark.testing import at, seed_table, table_frame

RUN_DATE = date(2024, 5, 1)


def payment(payment_id, status, created_at, method="card", **overrides):
    row = {"payment_id": payment_id, "status": status, "payment_method": method, "account_id": "acc-1",
           "merchant_id": "mer-1", "mcc": "5732", "card_network": "visa", "channel": "online",
           "amount_minor": 25000, "currency": "EUR", "amount_usd": None, "created_at": at(created_at),
           "updated_at": at("2024-05-01T14:00:00"), "ds": "2024-05-01"}
    row.update(overrides)
    return row


def test_one_open_chargeback_per_charged_back_payment(spark):
    payments = table_frame(spark, "lake.payments_clean", [
        payment("t1", "charged_back", "2024-03-02T10:00:00"),
        payment("t2", "charged_back", "2024-03-01T10:00:00", card_network="mastercard", currency="GBP", amount_minor=1999),
        payment("t3", "charged_back", "2024-03-01T10:00:00", updated_at=at("2024-04-30T09:00:00")),  # yesterday's
        payment("t4", "settled", "2024-04-30T10:00:00"),
    ])
    rows = {r.payment_id: r for r in chargebacks(payments, RUN_DATE).collect()}

    assert set(rows) == {"t1", "t2"}
    t1 = rows["t1"]
    assert (t1.network, t1.status, t1.currency, t1.amount_minor) == ("visa", "opened", "EUR", 25000)
    assert (t1.opened_at, t1.reason_code, t1.resolved_at) == (datetime(2024, 5, 1, 14), None, None)
    assert len(t1.chargeback_id) == 64 and t1.chargeback_id != rows["t2"].chargeback_id
    assert (rows["t2"].network, rows["t2"].amount_minor) == ("mastercard", 1999)


def test_run_is_idempotent_with_stable_ids(spark, lake):
    seed_table(spark, lake, "lake.payments_clean", "2024-05-01", [payment("t1", "charged_back", "2024-04-01T10:00:00")])
    args = build_parser().parse_args(["--run-date", "2024-05-01", "--base-path", lake])
    run(spark, args)
    first = [r.chargeback_id for r in read_table(spark, lake, OUTPUT_TABLE).collect()]
    run(spark, args)
    assert [r.chargeback_id for r in read_table(spark, lake, OUTPUT_TABLE).collect()] == first
    assert len(first) == 1


def test_run_refuses_a_chargeback_before_its_payment(spark, lake):
    seed_table(spark, lake, "lake.payments_clean", "2024-05-01", [payment("t1", "charged_back", "2024-05-02T10:00:00")])
    with pytest.raises(DataQualityError, match="charged back after the payment"):
        run(spark, build_parser().parse_args(["--run-date", "2024-05-01", "--base-path", lake]))
