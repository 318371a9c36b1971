from __future__ import annotations

from datetime import date
from decimal import Decimal

from chargeback_ingest.main import build_parser, run
from chargeback_ingest.transforms import OUTPUT_TABLE, chargebacks
from finsight_spark.io import read_table
from finsight_spark.testing import at, seed_table, table_frame

RUN_DATE = date(2024, 5, 1)


def payment(transaction_id, status, created_at, method="CARD", **overrides):
    row = {"transaction_id": transaction_id, "status": status, "payment_method": method, "account_id": "acc-1",
           "customer_id": "cus-1", "merchant_id": "mer-1", "merchant_mcc": "5732", "card_network": "VISA",
           "channel": "ECOMMERCE", "amount": Decimal("250.00"), "currency": "EUR", "amount_usd": Decimal("270.00"),
           "created_at": at(created_at), "updated_at": at("2024-05-01T14:00:00"), "ds": "2024-05-01"}
    row.update(overrides)
    return row


def test_chargebacks_with_dispute_window_and_fee(spark):
    payments = table_frame(spark, "lake.payments_clean", [
        payment("t1", "CHARGED_BACK", "2024-03-02T10:00:00"),
        payment("t2", "CHARGED_BACK", "2023-12-01T10:00:00"),  # 152 days: outside the card window
        payment("t3", "CHARGED_BACK", "2024-03-01T10:00:00", method="SEPA_DIRECT_DEBIT", card_network=None),
        payment("t4", "SETTLED", "2024-04-30T10:00:00"),
    ])
    rows = {r.transaction_id: r for r in chargebacks(payments, RUN_DATE).collect()}

    assert set(rows) == {"t1", "t2", "t3"}
    t1 = rows["t1"]
    assert (t1.days_to_chargeback, t1.dispute_window_days, t1.is_within_dispute_window) == (60, 120, True)
    assert (t1.amount_usd, t1.chargeback_fee_usd) == (Decimal("270.00"), Decimal("15.00"))
    assert len(t1.chargeback_id) == 64
    assert rows["t2"].is_within_dispute_window is False
    t3 = rows["t3"]
    assert (t3.dispute_window_days, t3.is_within_dispute_window, t3.chargeback_fee_usd) == (56, False, Decimal("7.50"))


def test_run_is_idempotent_with_stable_ids(spark, lake):
    seed_table(spark, lake, "lake.payments_clean", "2024-05-01", [payment("t1", "CHARGED_BACK", "2024-04-01T10:00:00")])
    args = build_parser().parse_args(["--run-date", "2024-05-01", "--base-path", lake])
    run(spark, args)
    first = [r.chargeback_id for r in read_table(spark, lake, OUTPUT_TABLE).collect()]
    run(spark, args)
    assert [r.chargeback_id for r in read_table(spark, lake, OUTPUT_TABLE).collect()] == first
    assert len(first) == 1
