from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from finsight_spark.io import read_table
from finsight_spark.testing import at, seed_table, table_frame
from merchant_enrichment.main import build_parser, run
from merchant_enrichment.transforms import OUTPUT_TABLE, merchants


def payment(transaction_id, merchant_id, status, updated_at, ds, amount_usd="10.00", **overrides):
    row = {"transaction_id": transaction_id, "merchant_id": merchant_id, "merchant_name": f"{merchant_id.upper()} LTD",
           "merchant_mcc": "5812", "merchant_country": "IE", "customer_id": f"cus-{transaction_id}", "status": status,
           "amount_usd": Decimal(amount_usd), "created_at": at(updated_at) - timedelta(hours=1),
           "updated_at": at(updated_at), "ds": ds}
    row.update(overrides)
    return row


def test_profiles_count_each_transaction_once_in_its_latest_state(spark):
    rows = [
        payment("t1", "m1", "CAPTURED", "2024-04-20T10:00:00", "2024-04-20", "30.00"),
        payment("t1", "m1", "SETTLED", "2024-04-21T02:00:00", "2024-04-21", "30.00"),
        payment("t2", "m1", "SETTLED", "2024-04-25T10:00:00", "2024-04-25", "10.00", customer_id="cus-t1"),
        payment("t3", "m1", "REFUNDED", "2024-04-30T10:00:00", "2024-04-30", "20.00"),
        payment("t4", "m1", "DECLINED", "2024-05-01T10:00:00", "2024-05-01", "999.00"),
        payment("t5", "m1", "SETTLED", "2024-05-01T11:00:00", "2024-05-01", merchant_name="M1 DUBLIN"),
        payment("t6", "m2", "CHARGED_BACK", "2024-05-01T10:00:00", "2024-05-01", merchant_mcc="7995"),
    ]
    profiles = {r.merchant_id: r for r in merchants(table_frame(spark, "lake.payments_clean", rows)).collect()}

    m1 = profiles["m1"]
    assert (m1.payments_30d, m1.volume_usd_30d, m1.avg_ticket_usd_30d) == (4, Decimal("70.00"), Decimal("17.50"))
    assert m1.customers_30d == 3  # t1 and t2 share a customer
    assert (m1.merchant_name, m1.mcc_category) == ("M1 DUBLIN", "restaurants")
    assert (m1.refund_rate_30d, m1.risk_tier) == (Decimal("0.250000"), "MEDIUM")
    m2 = profiles["m2"]
    assert (m2.mcc_category, m2.is_high_risk_mcc, m2.chargeback_rate_30d, m2.risk_tier) == (
        "gambling", True, Decimal("1.000000"), "HIGH"
    )


def test_run_uses_a_30_day_window(spark, lake):
    seed_table(spark, lake, "lake.payments_clean", "2024-04-01", [payment("old", "m-old", "SETTLED", "2024-04-01T10:00:00", "2024-04-01")])
    seed_table(spark, lake, "lake.payments_clean", "2024-04-02", [payment("t1", "m1", "SETTLED", "2024-04-02T10:00:00", "2024-04-02")])
    seed_table(spark, lake, "lake.payments_clean", "2024-05-01", [payment("t2", "m1", "SETTLED", "2024-05-01T10:00:00", "2024-05-01")])
    args = build_parser().parse_args(["--run-date", "2024-05-01", "--base-path", lake])
    run(spark, args)
    run(spark, args)

    [m1] = read_table(spark, lake, OUTPUT_TABLE).collect()
    assert (m1.merchant_id, m1.payments_30d, m1.ds) == ("m1", 2, "2024-05-01")
