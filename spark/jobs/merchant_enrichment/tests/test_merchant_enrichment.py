from __future__ import annotations

from datetime import datetime, timedelta

from finsight_spark.io import read_table
from finsight_spark.testing import at, seed_table, table_frame
from merchant_enrichment.main import build_parser, run
from merchant_enrichment.transforms import OUTPUT_TABLE, merchants


def payment(payment_id, merchant_id, status, updated_at, ds, currency="EUR", **overrides):
    row = {"payment_id": payment_id, "account_id": f"acc-{payment_id}", "merchant_id": merchant_id,
           "merchant_name": f"{merchant_id.upper()} LTD", "mcc": "5812", "country_code": "IE", "status": status,
           "payment_method": "card", "channel": "pos", "currency": currency, "amount_minor": 1000,
           "created_at": at(updated_at) - timedelta(hours=1), "updated_at": at(updated_at), "ds": ds}
    row.update(overrides)
    return row


def _profiles(spark, payments, previous=()):
    frame = merchants(table_frame(spark, "lake.payments_clean", payments), table_frame(spark, "lake.merchants", previous))
    return {row.merchant_id: row for row in frame.collect()}


def test_profiles_count_each_payment_once_in_its_latest_state(spark):
    profiles = _profiles(spark, [
        payment("t1", "m1", "captured", "2024-04-20T10:00:00", "2024-04-20"),
        payment("t1", "m1", "settled", "2024-04-21T02:00:00", "2024-04-21", created_at=at("2024-04-20T09:00:00")),
        payment("t2", "m1", "settled", "2024-04-25T10:00:00", "2024-04-25", currency="GBP"),
        payment("t3", "m1", "refunded", "2024-04-30T10:00:00", "2024-04-30", currency="GBP"),
        payment("t4", "m1", "declined", "2024-05-01T10:00:00", "2024-05-01", currency="GBP"),
        payment("t5", "m1", "settled", "2024-05-01T11:00:00", "2024-05-01", merchant_name="M1 DUBLIN"),
        payment("t6", "m2", "charged_back", "2024-05-01T10:00:00", "2024-05-01", mcc="7995", country_code="MT"),
        payment("t7", "m3", "settled", "2024-05-01T09:00:00", "2024-05-01", mcc="5411"),
    ])

    m1 = profiles["m1"]
    assert (m1.merchant_name, m1.mcc, m1.country_code) == ("M1 DUBLIN", "5812", "IE")
    # one refund in four completed payments
    assert (m1.risk_tier, m1.status) == ("elevated", "active")
    assert m1.settlement_currency == "GBP"  # three of its five payments
    assert (m1.onboarded_at, m1.updated_at) == (datetime(2024, 4, 20, 9), datetime(2024, 5, 1, 11))
    m2 = profiles["m2"]  # a gambling merchant whose only payment was charged back
    assert (m2.risk_tier, m2.status, m2.country_code) == ("high", "suspended", "MT")
    assert (profiles["m3"].risk_tier, profiles["m3"].status, profiles["m3"].settlement_currency) == ("standard", "active", "EUR")


def test_onboarding_time_survives_the_moving_window(spark):
    previous = [{"merchant_id": "m1", "merchant_name": "M1 LTD", "mcc": "5812", "country_code": "IE",
                 "status": "active", "risk_tier": "standard", "settlement_currency": "EUR",
                 "onboarded_at": at("2023-11-02T08:00:00"), "updated_at": at("2024-04-30T10:00:00")}]
    profiles = _profiles(spark, [payment("t1", "m1", "settled", "2024-05-01T10:00:00", "2024-05-01")], previous)
    assert profiles["m1"].onboarded_at == datetime(2023, 11, 2, 8)


def test_run_uses_a_30_day_window_and_its_previous_profiles(spark, lake):
    seed_table(spark, lake, "lake.payments_clean", "2024-03-31", [payment("t0", "m1", "settled", "2024-03-31T10:00:00", "2024-03-31")])
    seed_table(spark, lake, "lake.payments_clean", "2024-04-01", [payment("old", "m-old", "settled", "2024-04-01T10:00:00", "2024-04-01")])
    seed_table(spark, lake, "lake.payments_clean", "2024-04-02", [payment("t1", "m1", "settled", "2024-04-02T10:00:00", "2024-04-02")])
    seed_table(spark, lake, "lake.payments_clean", "2024-05-01", [payment("t2", "m1", "settled", "2024-05-01T10:00:00", "2024-05-01")])
    run(spark, build_parser().parse_args(["--run-date", "2024-03-31", "--base-path", lake]))
    args = build_parser().parse_args(["--run-date", "2024-05-01", "--base-path", lake])
    run(spark, args)
    run(spark, args)

    [m1] = read_table(spark, lake, OUTPUT_TABLE, ds_from="2024-05-01", ds_to="2024-05-01").collect()
    assert (m1.merchant_id, m1.ds) == ("m1", "2024-05-01")  # m-old's payment has left the window
    assert m1.onboarded_at == datetime(2024, 3, 31, 9)  # t0's creation, from the previous profile
