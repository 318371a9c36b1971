from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from card_fraud_scoring.main import build_parser, run
from card_fraud_scoring.transforms import OUTPUT_TABLE, SCORING_VERSION, card_fraud_scores, scored_authorizations
from finsight_spark.io import read_table
from finsight_spark.testing import at, seed_table, table_frame

RUN_DATE = date(2024, 5, 1)


def auth(authorization_id, card_id, authorized_at, **overrides):
    row = {
        "authorization_id": authorization_id, "card_id": card_id, "account_id": "acc-1", "merchant_id": "mer-1",
        "network": "visa", "entry_mode": "chip", "mcc": "5411", "merchant_country": "DE", "response_code": "00",
        "currency": "EUR", "amount_minor": 2000, "authorized_at": authorized_at, "ingested_at": authorized_at,
        "ds": authorized_at.date().isoformat(),
    }
    row.update(overrides)
    return row


def signal(signal_id, detected_at, **overrides):
    row = {"signal_id": signal_id, "entity_type": "CARD", "entity_id": "card-risky", "signal_type": "MODEL_SCORE",
           "score": 0.5, "severity": "MEDIUM", "detected_at": detected_at, "ds": detected_at.date().isoformat()}
    row.update(overrides)
    return row


def test_rules_and_signals_drive_the_score(spark):
    start = at("2024-05-01T10:00:00")
    burst = [
        auth(f"a{i}", "card-risky", start + timedelta(minutes=5 * i), merchant_country=country)
        for i, country in enumerate(["DE", "FR", "ES", "DE"])
    ]
    final = auth("a-final", "card-risky", start + timedelta(minutes=30), mcc="6051", entry_mode="ecommerce",
                 three_ds_result=None, merchant_country="NL", account_id="acc-risky")
    quiet = auth("a-quiet", "card-quiet", at("2024-05-01T12:00:00"), entry_mode="ecommerce",
                 three_ds_result="authenticated")
    yesterday = auth("a-yday", "card-quiet", at("2024-04-30T23:30:00"), amount_minor=499000)
    declined = auth("a-declined", "card-quiet", at("2024-05-01T11:00:00"), amount_minor=900000, response_code="51")
    other_currency = auth("a-usd", "card-quiet", at("2024-05-01T11:30:00"), amount_minor=300000, currency="USD")
    authorizations = table_frame(spark, "lake.card_authorizations_raw",
                                 [*burst, final, quiet, yesterday, declined, other_currency])
    signals = table_frame(spark, "lake.fraud_signals_raw", [
        signal("s-event", start + timedelta(minutes=30, seconds=1), entity_type="DEVICE", entity_id="dev-9",
               source_event_id="a-final", score=0.95, severity="CRITICAL"),
        signal("s-expired", start - timedelta(hours=1), score=1.0, severity="CRITICAL", expires_at=start - timedelta(minutes=30)),
        # After the authorization: not used.
        signal("s-other-card", at("2024-05-01T13:00:00"), entity_id="card-quiet", score=0.2, severity="LOW"),
    ])

    scored = {r.authorization_id: r for r in scored_authorizations(authorizations, signals, RUN_DATE).collect()}
    assert "a-yday" not in scored  # look-back only
    risky = scored["a-final"]
    assert (risky.card_auths_1h, risky.card_countries_24h) == (5, 4)
    assert risky.signal_count == 1 and risky.max_signal_score == 0.95 and risky.has_critical_signal is True
    assert set(risky.reason_codes) == {
        "VELOCITY_1H", "MULTI_COUNTRY_24H", "HIGH_RISK_MCC", "UNAUTHENTICATED_CNP", "CRITICAL_SIGNAL", "FRAUD_SIGNAL"
    }
    # yesterday evening's approved EUR spend counts; the decline and the USD authorization do not
    assert scored["a-quiet"].card_amount_24h == Decimal("5010.00")

    rows = {r.authorization_id: r for r in card_fraud_scores(authorizations, signals, RUN_DATE).collect()}
    # 20 velocity + 20 countries + 15 mcc + 15 unauthenticated CNP + 20 critical + 38 signal, capped at 100
    assert (rows["a-final"].fraud_score, rows["a-final"].risk_band) == (Decimal("1.0000"), "high")
    assert (rows["a-final"].top_signal, rows["a-final"].account_id) == ("fraud_signal", "acc-risky")
    quiet_row = rows["a-quiet"]
    assert (quiet_row.fraud_score, quiet_row.risk_band, quiet_row.top_signal) == (Decimal("0.1000"), "low", "high_spend_24h")
    assert (quiet_row.model_version, quiet_row.scored_at) == (SCORING_VERSION, datetime(2024, 5, 2))
    assert (rows["a0"].fraud_score, rows["a0"].top_signal) == (Decimal("0.0000"), "none")
    assert len({r.score_id for r in rows.values()}) == len(rows) and len(rows["a0"].score_id) == 64


def test_run_scores_the_run_date_once(spark, lake):
    seed_table(spark, lake, "lake.card_authorizations_raw", "2024-05-01",
               [auth("a1", "c1", at("2024-05-01T08:00:00")), auth("a2", "c1", at("2024-05-01T08:10:00"), mcc="7995")])
    seed_table(spark, lake, "lake.card_authorizations_raw", "2024-04-30", [auth("a0", "c1", at("2024-04-30T08:00:00"))])
    seed_table(spark, lake, "lake.fraud_signals_raw", "2024-05-01",
               [signal("s1", at("2024-05-01T08:10:01"), source_event_id="a2", score=0.7, severity="HIGH")])
    args = build_parser().parse_args(["--run-date", "2024-05-01", "--base-path", lake])
    run(spark, args)
    run(spark, args)

    rows = {r.authorization_id: r for r in read_table(spark, lake, OUTPUT_TABLE).collect()}
    assert set(rows) == {"a1", "a2"}
    # 15 high-risk MCC + 28 signal points
    assert (rows["a2"].fraud_score, rows["a2"].risk_band, rows["a2"].top_signal) == (Decimal("0.4300"), "medium", "fraud_signal")
