from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from aml_features.main import build_parser, run
from aml_features.transforms import OUTPUT_TABLE, aml_features
from finsight_spark.io import read_table
from finsight_spark.testing import at, seed_table, table_frame

RUN_DATE = date(2024, 5, 1)


def account(account_id, customer_id, opened="2023-01-01T09:00:00", **overrides):
    row = {"account_id": account_id, "customer_id": customer_id, "currency": "EUR", "status": "ACTIVE",
           "opened_at": at(opened), "sanctions_hold": False, "is_open": True}
    row.update(overrides)
    return row


def transfer(transfer_id, day, amount, direction="OUTBOUND", source="acc-1", destination=None, **overrides):
    started = at(f"{day}T10:00:00")
    row = {"transfer_id": transfer_id, "status": "COMPLETED", "direction": direction, "source_account_id": source,
           "destination_account_id": destination, "destination_institution_id": "BNPAFRPPXXX",
           "destination_account_masked": f"FR**{transfer_id}", "source_country": "DE", "destination_country": "DE",
           "is_cross_border": False, "amount": Decimal(amount), "currency": "EUR", "initiated_at": started,
           "last_event_at": started, "ds": day}
    row.update(overrides)
    return row


def kyc(customer_id, event_type, occurred, **overrides):
    row = {"event_id": f"{customer_id}-{event_type}-{occurred}", "customer_id": customer_id, "check_id": "c1",
           "event_type": event_type, "occurred_at": at(occurred),
           "check_outcome": {"CHECK_PASSED": "PASSED", "CHECK_FAILED": "FAILED"}.get(event_type), "ds": occurred[:10]}
    row.update(overrides)
    return row


def test_structuring_geography_and_kyc_rules(spark):
    accounts = table_frame(spark, "lake.accounts_snapshot", [
        account("acc-1", "cus-1"),
        account("acc-2", "cus-2", opened="2024-04-20T09:00:00"),
        account("acc-3", "cus-3", status="CLOSED", is_open=False),
    ])
    transfers = table_frame(spark, "lake.transfers", [
        transfer("s1", "2024-04-27", "9500.00"), transfer("s2", "2024-04-29", "9800.00"),
        transfer("s3", "2024-05-01", "9900.00"),
        transfer("s3", "2024-04-30", "9900.00", last_event_at=at("2024-04-30T10:00:00")),  # older state of s3
        transfer("x1", "2024-04-10", "120.00", destination_country="IR", is_cross_border=True),
        transfer("x2", "2024-04-11", "500.00", status="FAILED"),
        transfer("x3", "2024-03-01", "700.00"),  # outside the window
        transfer("usd", "2024-04-30", "3000.00", currency="USD"),
        transfer("in1", "2024-04-21", "25000.00", direction="INBOUND", source=None, destination="acc-2"),
        transfer("o2", "2024-04-22", "24000.00", source="acc-2"),
    ])
    kyc_events = table_frame(spark, "lake.kyc_events", [
        kyc("cus-1", "CHECK_PASSED", "2024-01-15T10:00:00", risk_rating="LOW"),
        kyc("cus-1", "SANCTIONS_SCREENED", "2024-04-01T10:00:00", risk_rating="HIGH"),
        kyc("cus-2", "CHECK_PASSED", "2022-02-01T10:00:00"),
    ])
    rows = {r.account_id: r for r in aml_features(transfers, kyc_events, accounts, RUN_DATE).collect()}

    assert set(rows) == {"acc-1", "acc-2"}
    a1 = rows["acc-1"]
    assert (a1.outbound_count_1d, a1.outbound_count_7d, a1.outbound_count_30d) == (1, 4, 5)
    assert (a1.structuring_count_7d, a1.outbound_amount_7d) == (3, Decimal("29200.00"))
    assert (a1.foreign_currency_transfers_30d, a1.high_risk_country_transfers_30d) == (1, 1)
    assert a1.cross_border_ratio_30d == Decimal("0.200000")
    assert (a1.kyc_risk_rating, a1.kyc_last_outcome, a1.days_since_kyc_pass) == ("HIGH", "PASSED", 107)
    assert set(a1.aml_rule_hits) == {"STRUCTURING", "HIGH_RISK_GEOGRAPHY", "KYC_HIGH_RISK"}
    assert (a1.aml_score, a1.is_alert) == (75, True)
    a2 = rows["acc-2"]
    assert (a2.inbound_amount_30d, a2.pass_through_ratio_30d, a2.account_age_days) == (
        Decimal("25000.00"), Decimal("0.960000"), 11
    )
    assert set(a2.aml_rule_hits) == {"PASS_THROUGH", "NEW_ACCOUNT_HIGH_VOLUME", "STALE_KYC"}


def test_run_needs_the_days_snapshot_and_is_idempotent(spark, lake):
    args = build_parser().parse_args(["--run-date", "2024-05-01", "--base-path", lake])
    seed_table(spark, lake, "lake.accounts_snapshot", "2024-04-30", [account("acc-1", "cus-1")])
    with pytest.raises(FileNotFoundError, match="ds=2024-05-01"):
        run(spark, args)

    seed_table(spark, lake, "lake.accounts_snapshot", "2024-05-01", [account("acc-1", "cus-1")])
    for day in ("2024-04-28", "2024-05-01"):
        seed_table(spark, lake, "lake.transfers", day, [transfer(f"t-{day}", day, "100.00")])
    run(spark, args)
    run(spark, args)
    [row] = read_table(spark, lake, OUTPUT_TABLE).collect()
    assert (row.account_id, row.outbound_count_30d, row.kyc_last_outcome) == ("acc-1", 2, None)
    assert row.aml_rule_hits == ["STALE_KYC"]  # no KYC history at all
