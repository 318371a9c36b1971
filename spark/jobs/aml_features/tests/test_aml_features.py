from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from aml_features.main import build_parser, run
from aml_features.transforms import OUTPUT_TABLE, aml_features
from finsight_spark.dq import DataQualityError
from finsight_spark.io import read_table
from finsight_spark.testing import at, seed_table, table_frame

RUN_DATE = date(2024, 5, 1)


def account(account_id, customer_id, status="active", ds="2024-05-01"):
    return {"account_id": account_id, "customer_id": customer_id, "account_type": "current", "status": status,
            "currency": "EUR", "country_code": "DE", "customer_segment": "retail",
            "opened_at": at("2023-01-01T09:00:00"), "snapshot_date": date.fromisoformat(ds),
            "updated_at": at("2023-01-01T09:00:00"), "ds": ds}


def transfer(transfer_id, day, amount, source="acc-1", destination=None, counterparty="DE", **overrides):
    started = at(f"{day}T10:00:00")
    row = {"transfer_id": transfer_id, "source_account_id": source, "destination_account_id": destination,
           "counterparty_country": counterparty, "transfer_type": "domestic", "rail": "sepa_credit_transfer",
           "status": "completed", "currency": "EUR", "amount_minor": int(Decimal(amount) * 100), "fee_minor": 0,
           "initiated_at": started, "completed_at": started, "updated_at": started, "ds": day}
    row.update(overrides)
    return row


def kyc(customer_id, event_type, level, occurred):
    return {"event_id": f"{customer_id}-{event_type}", "customer_id": customer_id, "event_type": event_type,
            "kyc_level": level, "provider": "onfido", "occurred_at": at(occurred), "ds": occurred[:10]}


def test_monitoring_features_per_customer(spark):
    accounts = table_frame(spark, "lake.accounts_snapshot", [
        account("acc-1", "cus-1"), account("acc-1b", "cus-1"), account("acc-2", "cus-2"),
        account("acc-3", "cus-3", status="closed"), account("acc-4", "cus-4"), account("acc-5", "cus-5"),
    ])
    transfers = table_frame(spark, "lake.transfers", [
        # cus-1: three transfers just under the threshold in the last seven days
        transfer("s1", "2024-04-27", "9500.00"), transfer("s2", "2024-04-29", "9800.00"),
        transfer("s3", "2024-05-01", "9900.00"),
        transfer("s3", "2024-04-30", "9900.00", status="pending", updated_at=at("2024-04-30T10:00:00")),  # older state
        transfer("x1", "2024-04-10", "120.00", counterparty="IR"),
        transfer("x2", "2024-04-11", "500.00", status="failed"),
        transfer("x3", "2024-03-01", "700.00"),  # outside the window
        transfer("usd", "2024-04-30", "3000.00", currency="USD"),
        transfer("own", "2024-04-20", "1000.00", destination="acc-1b", counterparty=None),  # between own accounts
        transfer("p2p", "2024-04-22", "250.00", destination="acc-2", counterparty=None),
        # cus-2: received money, then two transfers just under the threshold
        transfer("in2", "2024-04-21", "25000.00", source=None, destination="acc-2", counterparty="US"),
        transfer("e1", "2024-04-30", "9100.00", source="acc-2"), transfer("e2", "2024-05-01", "9200.00", source="acc-2"),
        # cus-4: the same two transfers, in pounds
        transfer("g1", "2024-04-30", "9500.00", source="acc-4", currency="GBP"),
        transfer("g2", "2024-05-01", "9500.00", source="acc-4", currency="GBP"),
        transfer("c3", "2024-04-30", "50.00", source="acc-3"),  # a closed account's customer is not monitored
    ])
    kyc_events = table_frame(spark, "lake.kyc_events", [
        kyc("cus-1", "check_passed", "standard", "2024-01-15T10:00:00"),
        kyc("cus-2", "check_started", "standard", "2023-01-01T10:00:00"),
        kyc("cus-2", "manual_review_required", "enhanced", "2024-04-01T10:00:00"),
        kyc("cus-4", "check_passed", "standard", "2024-02-01T10:00:00"),
    ])
    rows = {r.customer_id: r for r in aml_features(transfers, kyc_events, accounts, RUN_DATE).collect()}

    assert set(rows) == {"cus-1", "cus-2", "cus-4", "cus-5"}
    c1 = rows["cus-1"]
    assert (c1.txn_count_30d, c1.inbound_amount_usd_30d, c1.outbound_amount_usd_30d) == (6, Decimal("0.00"), Decimal("34935.60"))
    assert (c1.high_risk_country_transfers_30d, c1.structuring_flag) == (1, True)
    # four legs this week against 1, 0 and 1 in the three weeks before (standard deviation floored at 1)
    assert c1.velocity_zscore == Decimal("3.33")
    assert (c1.feature_date, c1.computed_at) == (RUN_DATE, datetime(2024, 5, 2))
    c2 = rows["cus-2"]
    assert (c2.txn_count_30d, c2.inbound_amount_usd_30d, c2.outbound_amount_usd_30d) == (4, Decimal("27270.00"), Decimal("19764.00"))
    assert (c2.structuring_flag, c2.velocity_zscore) == (True, Decimal("1.33"))  # two suffice under enhanced due diligence
    c4 = rows["cus-4"]
    assert (c4.outbound_amount_usd_30d, c4.structuring_flag, c4.velocity_zscore) == (Decimal("24130.00"), False, Decimal("2.00"))
    c5 = rows["cus-5"]
    assert (c5.txn_count_30d, c5.outbound_amount_usd_30d, c5.structuring_flag, c5.velocity_zscore) == (
        0, Decimal("0.00"), False, Decimal("0.00")
    )


def test_run_needs_the_days_snapshot_and_a_rate_for_every_currency(spark, lake):
    args = build_parser().parse_args(["--run-date", "2024-05-01", "--base-path", lake])
    seed_table(spark, lake, "lake.accounts_snapshot", "2024-04-30", [account("acc-1", "cus-1", ds="2024-04-30")])
    with pytest.raises(FileNotFoundError, match="ds=2024-05-01"):
        run(spark, args)

    seed_table(spark, lake, "lake.accounts_snapshot", "2024-05-01", [account("acc-1", "cus-1")])
    for day in ("2024-04-28", "2024-05-01"):
        seed_table(spark, lake, "lake.transfers", day, [transfer(f"t-{day}", day, "100.00")])
    run(spark, args)
    run(spark, args)
    [row] = read_table(spark, lake, OUTPUT_TABLE).collect()
    assert (row.customer_id, row.txn_count_30d, row.outbound_amount_usd_30d) == ("cus-1", 2, Decimal("216.00"))

    seed_table(spark, lake, "lake.transfers", "2024-05-01", [transfer("zar", "2024-05-01", "100.00", currency="ZAR")])
    with pytest.raises(DataQualityError, match="monitoring rate"):
        run(spark, args)
