from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from finsight_spark.dq import DataQualityError
from finsight_spark.io import read_table
from finsight_spark.testing import at, seed_table, table_frame
from payments_clean.main import build_parser, run
from payments_clean.transforms import OUTPUT_TABLE, payments_clean


def raw_event(event_id, transaction_id, status, updated_at, offset, **overrides):
    row = {
        "event_id": event_id, "transaction_id": transaction_id, "account_id": "acc-1", "customer_id": "cus-1",
        "amount": Decimal("100.00"), "currency": "EUR", "fee_amount": None, "status": status,
        "payment_method": "CARD", "channel": "ECOMMERCE", "merchant_id": "mer-1", "merchant_name": "NORDIC GROCERS",
        "merchant_mcc": "5411", "merchant_country": "DE", "card_id": "card-1", "card_network": "VISA",
        "created_at": at("2024-05-01T09:00:00"), "updated_at": at(updated_at), "kafka_partition": 0,
        "kafka_offset": offset, "kafka_timestamp": at(updated_at),
    }
    row.update(overrides)
    return row


def rate(base, day, value, quote="USD"):
    return {"rate_date": day, "base_currency": base, "quote_currency": quote, "rate": Decimal(value),
            "source": "refinitiv", "published_at": at(f"{day.isoformat()}T16:05:00")}


FX = [
    rate("EUR", date(2024, 5, 1), "1.08000000"),
    rate("EUR", date(2024, 4, 30), "1.07000000"),
    rate("USD", date(2024, 5, 1), "0.92590000", quote="EUR"),  # not a rate into USD
    rate("GBP", date(2024, 4, 29), "1.25000000"),  # carried over the weekend
    rate("JPY", date(2024, 5, 1), "0.00641000"),
]


def test_latest_state_per_payment_in_minor_units_and_usd(spark):
    raw = table_frame(spark, "lake.payments_raw", [
        raw_event("e1", "t1", "AUTHORIZED", "2024-05-01T09:00:01", 1),
        raw_event("e2", "t1", "CAPTURED", "2024-05-01T09:05:00", 7, fee_amount=Decimal("1.25")),
        raw_event("e2", "t1", "CAPTURED", "2024-05-01T09:05:00", 9, fee_amount=Decimal("1.25")),  # replayed
        raw_event("e3", "t2", "SETTLED", "2024-05-01T20:00:00", 3, currency="GBP", amount=Decimal("10.01"),
                  created_at=at("2024-04-28T12:00:00")),
        raw_event("e4", "t3", "CAPTURED", "2024-05-01T11:00:00", 4, currency="JPY", amount=Decimal("1999.00")),
        raw_event("e5", "t4", "CAPTURED", "2024-05-01T11:00:00", 5, currency="USD", amount=Decimal("5.55")),
        raw_event(None, None, None, "2024-05-01T11:00:00", 6, amount=None, decode_error="invalid Avro body"),
        raw_event("e7", "t5", "CAPTURED", "2024-05-01T11:00:00", 8, amount=Decimal("0.00")),
    ])
    rows = {r.payment_id: r for r in payments_clean(raw, table_frame(spark, "lake.fx_rates_daily", FX)).collect()}

    assert set(rows) == {"t1", "t2", "t3", "t4"}
    t1 = rows["t1"]
    assert (t1.status, t1.payment_method, t1.channel, t1.card_network) == ("captured", "card", "ecommerce", "visa")
    assert (t1.amount_minor, t1.currency, t1.amount_usd) == (10000, "EUR", Decimal("108.00"))  # the day's rate
    assert (t1.country_code, t1.merchant_name, t1.mcc) == ("DE", "NORDIC GROCERS", "5411")
    t2 = rows["t2"]
    assert t2.amount_usd == Decimal("12.51")  # Monday's GBP rate carried forward; 12.5125 rounds half-even
    assert t2.created_at == at("2024-04-28T12:00:00").replace(tzinfo=None)
    assert (rows["t3"].amount_minor, rows["t3"].amount_usd) == (1999, Decimal("12.81"))  # JPY has no minor unit
    assert (rows["t4"].amount_minor, rows["t4"].amount_usd) == (555, Decimal("5.55"))


def test_run_writes_partition_idempotently_and_fails_without_rate(spark, lake):
    seed_table(spark, lake, "lake.fx_rates_daily", "2024-05-01", FX)
    seed_table(spark, lake, "lake.payments_raw", "2024-05-01", [
        raw_event("e1", "t1", "CAPTURED", "2024-05-01T09:05:00", 1),
        raw_event("e2", "t2", "CAPTURED", "2024-05-01T09:06:00", 2, currency="GBP"),
    ])
    seed_table(spark, lake, "lake.payments_raw", "2024-05-02", [
        raw_event("e9", "t9", "CAPTURED", "2024-05-02T09:05:00", 3, currency="CHF"),
    ])
    args = build_parser().parse_args(["--run-date", "2024-05-01", "--base-path", lake])
    run(spark, args)
    run(spark, args)
    written = read_table(spark, lake, OUTPUT_TABLE, ds_from="2024-05-01", ds_to="2024-05-01")
    assert sorted(r.payment_id for r in written.collect()) == ["t1", "t2"]

    with pytest.raises(DataQualityError) as failure:
        run(spark, build_parser().parse_args(["--run-date", "2024-05-02", "--base-path", lake]))
    assert failure.value.check == "a USD rate exists for every currency" and failure.value.failing_rows == 1
    assert read_table(spark, lake, OUTPUT_TABLE).where("ds = '2024-05-02'").count() == 0
