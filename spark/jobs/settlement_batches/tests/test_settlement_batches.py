from __future__ import annotations

from datetime import date
from decimal import Decimal

from finsight_spark.io import read_table
from finsight_spark.testing import at, seed_table, table_frame
from settlement_batches.main import build_parser, run
from settlement_batches.transforms import OUTPUT_TABLE, settlements

RUN_DATE = date(2024, 5, 1)


def payment(transaction_id, merchant_id, status, amount, currency="EUR", funding="DEBIT", updated_at="2024-05-01T03:00:00"):
    return {"transaction_id": transaction_id, "merchant_id": merchant_id, "status": status, "amount": Decimal(amount),
            "currency": currency, "payment_method": "CARD", "card_funding_type": funding,
            "created_at": at("2024-04-29T10:00:00"), "updated_at": at(updated_at), "ds": "2024-05-01"}


def posting(transaction_id, merchant_id, side, amount, currency="EUR", gl="210300"):
    value = Decimal(amount)
    return {"entry_id": f"{transaction_id}-{side}-{gl}", "journal_id": f"j-{transaction_id}", "currency": currency,
            "ledger_account_id": f"merchant:{merchant_id}" if gl.startswith("2103") else "clearing:visa",
            "gl_account_code": gl, "entry_side": side, "amount": value,
            "signed_amount": value if side == "DEBIT" else -value, "source_system": "PAYMENTS",
            "source_reference": transaction_id, "ds": "2024-05-01"}


PAYMENTS = [
    payment("t1", "m1", "SETTLED", "100.00"),
    payment("t2", "m1", "SETTLED", "50.00", funding="CREDIT"),
    payment("t3", "m1", "REFUNDED", "20.00"),
    payment("t6", "m1", "CAPTURED", "70.00"),  # not settled yet
    payment("t7", "m1", "SETTLED", "70.00", updated_at="2024-04-30T23:00:00"),  # yesterday's batch
    payment("t4", "m2", "SETTLED", "10.00", currency="GBP"),
    payment("t5", "m3", "SETTLED", "5.00", currency="USD"),
]
LEDGER = [
    posting("t1", "m1", "CREDIT", "100.00"), posting("t1", "m1", "DEBIT", "100.00", gl="110200"),
    posting("t2", "m1", "CREDIT", "50.00"),
    posting("t3", "m1", "DEBIT", "20.00"),
    posting("t4", "m2", "CREDIT", "9.99", currency="GBP"),
]


def test_batches_totals_and_ledger_match(spark):
    batches = settlements(table_frame(spark, "lake.payments_clean", PAYMENTS),
                          table_frame(spark, "lake.ledger_entries", LEDGER), RUN_DATE)
    rows = {r.merchant_id: r for r in batches.collect()}

    m1 = rows["m1"]
    assert (m1.settled_count, m1.gross_amount, m1.refund_amount) == (2, Decimal("150.00"), Decimal("20.00"))
    # 100.00 * 0.90% + 0.20 and 50.00 * 1.80% + 0.20: 1.10 each
    assert (m1.merchant_service_charge, m1.net_amount) == (Decimal("2.20"), Decimal("127.80"))
    assert (m1.ledger_amount, m1.ledger_difference, m1.matched_count) == (Decimal("130.00"), Decimal("0.00"), 3)
    assert m1.reconciliation_status == "MATCHED" and m1.settlement_date == RUN_DATE
    m2 = rows["m2"]
    assert (m2.reconciliation_status, m2.ledger_difference, m2.unmatched_payment_count) == (
        "MISMATCH", Decimal("-0.01"), 1
    )
    assert rows["m3"].reconciliation_status == "UNPOSTED"


def test_ledger_postings_without_payment_are_flagged(spark, lake):
    seed_table(spark, lake, "lake.payments_clean", "2024-05-01", PAYMENTS[:3])
    seed_table(spark, lake, "lake.ledger_entries", "2024-05-01", LEDGER[:4] + [posting("t99", "m1", "CREDIT", "12.00")])
    args = build_parser().parse_args(["--run-date", "2024-05-01", "--base-path", lake])
    run(spark, args)
    run(spark, args)

    [m1] = read_table(spark, lake, OUTPUT_TABLE).collect()
    assert (m1.unmatched_ledger_count, m1.ledger_difference, m1.reconciliation_status) == (1, Decimal("12.00"), "MISMATCH")
