from __future__ import annotations

from datetime import date, datetime

from finsight_spark.io import read_table
from finsight_spark.testing import at, seed_table, table_frame
from settlement_batches.main import build_parser, run
from settlement_batches.transforms import OUTPUT_TABLE, settlements

RUN_DATE = date(2024, 5, 1)


def payment(payment_id, merchant_id, status, amount_minor, currency="EUR", method="card", updated_at="2024-05-01T03:00:00"):
    return {"payment_id": payment_id, "account_id": "acc-1", "merchant_id": merchant_id, "status": status,
            "amount_minor": amount_minor, "currency": currency, "payment_method": method, "channel": "online",
            "created_at": at("2024-04-29T10:00:00"), "updated_at": at(updated_at), "ds": "2024-05-01"}


def posting(payment_id, direction, amount_minor, gl="210300", journal=None, posted_at="2024-05-01T04:00:00",
            source_type="payments", currency="EUR"):
    journal_id = journal or f"j-{payment_id}"
    return {"entry_id": f"{journal_id}-{direction}-{gl}", "journal_id": journal_id, "gl_account_code": gl,
            "direction": direction, "amount_minor": amount_minor, "currency": currency, "source_type": source_type,
            "source_id": payment_id, "posted_at": at(posted_at), "effective_date": RUN_DATE, "ds": "2024-05-01"}


PAYMENTS = [
    payment("t1", "m1", "settled", 10000),
    payment("t2", "m1", "settled", 5000, method="wallet"),
    payment("t3", "m1", "refunded", 2000),
    payment("t6", "m1", "captured", 7000),  # not settled yet
    payment("t7", "m1", "settled", 7000, updated_at="2024-04-30T23:00:00"),  # yesterday's batch
    payment("t4", "m2", "settled", 1000, currency="GBP"),
    payment("t5", "m3", "settled", 10, currency="USD"),
]
LEDGER = [
    posting("t1", "C", 10000), posting("t1", "D", 10000, gl="110200"),
    posting("t1", "C", 10000, journal="j-t1-repost", posted_at="2024-05-01T09:00:00"),
    posting("t2", "C", 5000),
    posting("t5", "C", 10, source_type="cards", currency="USD"),  # not a payment posting
]


def test_one_line_per_settled_payment_with_service_charge_and_ledger_journal(spark):
    lines = settlements(table_frame(spark, "lake.payments_clean", PAYMENTS),
                        table_frame(spark, "lake.ledger_entries", LEDGER), RUN_DATE)
    rows = {r.payment_id: r for r in lines.collect()}

    assert set(rows) == {"t1", "t2", "t4", "t5"}
    t1 = rows["t1"]
    # 100.00 * 1.40% + 0.20
    assert (t1.gross_amount_minor, t1.fee_amount_minor, t1.net_amount_minor) == (10000, 160, 9840)
    assert (t1.processor_reference, t1.settlement_date, t1.settled_at) == ("j-t1", RUN_DATE, datetime(2024, 5, 1, 3))
    assert rows["t2"].fee_amount_minor == 85  # 50.00 * 1.50% + 0.10 for a wallet
    assert t1.settlement_batch_id == rows["t2"].settlement_batch_id != rows["t4"].settlement_batch_id
    assert (rows["t4"].fee_amount_minor, rows["t4"].processor_reference) == (34, None)  # not posted yet
    t5 = rows["t5"]  # a 0.10 payment: the fixed charge is capped at the amount
    assert (t5.fee_amount_minor, t5.net_amount_minor, t5.processor_reference) == (10, 0, None)
    assert len({r.settlement_id for r in rows.values()}) == 4


def test_run_writes_the_days_lines_once(spark, lake):
    seed_table(spark, lake, "lake.payments_clean", "2024-05-01", PAYMENTS[:3])
    seed_table(spark, lake, "lake.ledger_entries", "2024-05-01", LEDGER[:2])
    args = build_parser().parse_args(["--run-date", "2024-05-01", "--base-path", lake])
    run(spark, args)
    run(spark, args)

    rows = {r.payment_id: r.processor_reference for r in read_table(spark, lake, OUTPUT_TABLE).collect()}
    assert rows == {"t1": "j-t1", "t2": None}
