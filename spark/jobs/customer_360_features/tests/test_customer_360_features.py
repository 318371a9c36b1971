from __future__ import annotations

from datetime import date
from decimal import Decimal

from customer_360_features.main import build_parser, run
from customer_360_features.transforms import OUTPUT_TABLE, customer_features
from finsight_spark.io import read_table
from finsight_spark.testing import at, seed_table, table_frame

RUN_DATE = date(2024, 5, 1)


def account(account_id, customer_id, currency="EUR", opened="2022-06-01T09:00:00", is_open=True, **overrides):
    row = {"account_id": account_id, "customer_id": customer_id, "currency": currency, "opened_at": at(opened),
           "is_open": is_open, "status": "ACTIVE" if is_open else "CLOSED", "overdraft_enabled": False,
           "sanctions_hold": False, "ds": "2024-05-01"}
    row.update(overrides)
    return row


def payment(transaction_id, customer_id, status, usd, day, merchant_id="m1"):
    return {"transaction_id": transaction_id, "customer_id": customer_id, "status": status, "amount_usd": Decimal(usd),
            "merchant_id": merchant_id, "created_at": at(f"{day}T10:00:00"), "updated_at": at(f"{day}T10:00:00"),
            "ds": day}


def score(authorization_id, customer_id, fraud_score, band):
    return {"authorization_id": authorization_id, "customer_id": customer_id, "fraud_score": fraud_score,
            "risk_band": band, "ds": "2024-04-30"}


def test_features_and_segments(spark):
    accounts = table_frame(spark, "lake.accounts_snapshot", [
        account("a1", "c1", currency="GBP", opened="2021-01-01T09:00:00", is_open=False),
        account("a2", "c1", currency="EUR", opened="2022-01-01T09:00:00", overdraft_enabled=True),
        account("a3", "c1", currency="USD", opened="2023-01-01T09:00:00"),
        account("a4", "c2", opened="2024-04-01T09:00:00"),
        account("a5", "c3"),
    ])
    payments = table_frame(spark, "lake.payments_clean", [
        payment("t1", "c1", "CAPTURED", "9000.00", "2024-04-20"),
        payment("t1", "c1", "SETTLED", "9000.00", "2024-04-21"),  # same payment, newer state
        payment("t2", "c1", "SETTLED", "1500.00", "2024-04-28", merchant_id="m2"),
        payment("t3", "c1", "DECLINED", "80.00", "2024-04-29"),
        payment("t4", "c2", "SETTLED", "12.00", "2024-04-30"),
    ])
    scores = table_frame(spark, "lake.card_fraud_scores", [
        score("x1", "c1", 12, "LOW"), score("x2", "c1", 85, "CRITICAL"), score("x2", "c1", 85, "CRITICAL"),
    ])
    rows = {r.customer_id: r for r in customer_features(accounts, payments, scores, RUN_DATE).collect()}

    c1 = rows["c1"]
    assert (c1.account_count, c1.open_account_count, c1.primary_currency) == (3, 2, "EUR")
    assert (c1.tenure_days, c1.has_overdraft) == (1216, True)
    assert (c1.payments_30d, c1.volume_usd_30d, c1.avg_ticket_usd_30d) == (2, Decimal("10500.00"), Decimal("5250.00"))
    assert (c1.distinct_merchants_30d, c1.declined_ratio_30d, c1.days_since_last_payment) == (2, Decimal("0.333333"), 3)
    assert (c1.card_auths_scored_30d, c1.high_risk_auths_30d, c1.max_fraud_score_30d) == (2, 1, 85)
    assert c1.segment == "HIGH_VALUE"
    assert rows["c2"].segment == "NEW"
    c3 = rows["c3"]
    assert (c3.segment, c3.payments_30d, c3.volume_usd_30d, c3.max_fraud_score_30d) == ("DORMANT", 0, Decimal("0.00"), None)


def test_run_writes_one_row_per_customer(spark, lake):
    seed_table(spark, lake, "lake.accounts_snapshot", "2024-05-01", [account("a1", "c1"), account("a2", "c1")])
    seed_table(spark, lake, "lake.payments_clean", "2024-04-15", [payment("t1", "c1", "SETTLED", "25.00", "2024-04-15")])
    args = build_parser().parse_args(["--run-date", "2024-05-01", "--base-path", lake])
    run(spark, args)
    run(spark, args)
    [row] = read_table(spark, lake, OUTPUT_TABLE).collect()
    assert (row.customer_id, row.account_count, row.payments_30d, row.segment) == ("c1", 2, 1, "ACTIVE")
