from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from customer_360_features.main import build_parser, run
from customer_360_features.transforms import OUTPUT_TABLE, customer_features
from finsight_spark.io import read_table
from finsight_spark.testing import at, seed_table, table_frame

RUN_DATE = date(2024, 5, 1)


def account(account_id, customer_id, opened="2022-06-01T09:00:00", status="active"):
    return {"account_id": account_id, "customer_id": customer_id, "account_type": "current", "status": status,
            "currency": "EUR", "country_code": "IE", "customer_segment": "retail", "opened_at": at(opened),
            "snapshot_date": RUN_DATE, "updated_at": at(opened), "ds": "2024-05-01"}


def payment(payment_id, account_id, status, usd, day):
    return {"payment_id": payment_id, "account_id": account_id, "merchant_id": "m1", "status": status,
            "currency": "USD", "amount_minor": int(Decimal(usd) * 100), "amount_usd": Decimal(usd),
            "created_at": at(f"{day}T10:00:00"), "updated_at": at(f"{day}T10:00:00"), "ds": day}


def score(authorization_id, account_id, fraud_score, scored_at="2024-05-01T00:00:00", score_id=None):
    return {"score_id": score_id or f"s-{authorization_id}", "authorization_id": authorization_id,
            "account_id": account_id, "model_version": "card-rules-2024.11", "fraud_score": Decimal(fraud_score),
            "risk_band": "low", "top_signal": "none", "scored_at": at(scored_at), "ds": scored_at[:10]}


def test_features_per_customer_from_their_accounts(spark):
    accounts = table_frame(spark, "lake.accounts_snapshot", [
        account("a1", "c1", opened="2021-01-01T09:00:00", status="closed"),
        account("a2", "c1", opened="2022-01-01T09:00:00"),
        account("a3", "c1", opened="2023-01-01T09:00:00", status="frozen"),
        account("a4", "c2", opened="2024-04-01T09:00:00"),
    ])
    payments = table_frame(spark, "lake.payments_clean", [
        payment("t1", "a2", "captured", "9000.00", "2024-04-20"),
        payment("t1", "a2", "settled", "9000.00", "2024-04-21"),  # same payment, newer state
        payment("t2", "a3", "settled", "1500.55", "2024-03-01"),
        payment("t3", "a2", "declined", "80.00", "2024-04-29"),
        payment("t9", "a-unknown", "settled", "5.00", "2024-04-29"),  # no holder in the snapshot
    ])
    scores = table_frame(spark, "lake.card_fraud_scores", [
        score("x1", "a2", "0.1200"), score("x2", "a3", "0.8500"),
        score("x3", "a2", "0.9000", scored_at="2024-04-30T00:00:00"),
        score("x3", "a2", "0.3000", scored_at="2024-05-01T00:00:00", score_id="s-x3-rescored"),  # newest wins
    ])
    rows = {r.customer_id: r for r in customer_features(accounts, payments, scores, RUN_DATE).collect()}

    assert set(rows) == {"c1", "c2"}
    c1 = rows["c1"]
    assert (c1.tenure_days, c1.active_accounts) == (1216, 1)
    assert (c1.payments_count_90d, c1.payments_amount_usd_90d) == (2, Decimal("10500.55"))
    assert (c1.avg_fraud_score_90d, c1.max_fraud_score_90d) == (Decimal("0.4233"), Decimal("0.8500"))
    assert (c1.feature_date, c1.computed_at) == (RUN_DATE, datetime(2024, 5, 2))
    c2 = rows["c2"]
    assert (c2.tenure_days, c2.payments_count_90d, c2.payments_amount_usd_90d) == (30, 0, Decimal("0.00"))
    assert (c2.avg_fraud_score_90d, c2.max_fraud_score_90d) == (None, None)


def test_run_writes_one_row_per_customer_over_90_days(spark, lake):
    seed_table(spark, lake, "lake.accounts_snapshot", "2024-05-01", [account("a1", "c1"), account("a2", "c1")])
    seed_table(spark, lake, "lake.payments_clean", "2024-02-02", [payment("t1", "a1", "settled", "25.00", "2024-02-02")])
    seed_table(spark, lake, "lake.payments_clean", "2024-02-01", [payment("t0", "a1", "settled", "99.00", "2024-02-01")])
    args = build_parser().parse_args(["--run-date", "2024-05-01", "--base-path", lake])
    run(spark, args)
    run(spark, args)
    [row] = read_table(spark, lake, OUTPUT_TABLE).collect()
    assert (row.customer_id, row.active_accounts, row.payments_count_90d) == ("c1", 2, 1)  # t0 is 91 days old
    assert row.payments_amount_usd_90d == Decimal("25.00")
