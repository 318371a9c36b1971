"""Pure transforms of card_fraud_scoring: authorization features, signal features, rule scores.

The rule set is versioned (`SCORING_VERSION`); model risk signs off every change to the weights.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from finsight_spark.mcc import is_high_risk_mcc
from finsight_spark.schemas import conform
from finsight_spark.tables import CARD_FRAUD_SCORES

AUTHORIZATIONS_TABLE = "lake.card_authorizations_raw"
SIGNALS_TABLE = "lake.fraud_signals_raw"
OUTPUT_TABLE = "lake.card_fraud_scores"
SCORING_VERSION = "card-rules-2024.11"

FALLBACK_ENTRY_MODES = ("MAGSTRIPE", "MANUAL_KEY_ENTRY")
CARD_NOT_PRESENT_ENTRY_MODES = ("ECOMMERCE", "CARD_ON_FILE")
STRONG_AUTHENTICATION = ("AUTHENTICATED", "ATTEMPTED")
CARD_SIGNAL_LOOKBACK_SECONDS = 24 * 3600
HIGH_SPEND_24H = 5000  # in the card's billing currency

# (reason code, points) of each rule; signal points are added on top in `score`.
RULE_POINTS = {
    "VELOCITY_1H": 20,
    "MULTI_COUNTRY_24H": 20,
    "HIGH_RISK_MCC": 15,
    "UNAUTHENTICATED_CNP": 15,
    "FALLBACK_ENTRY": 10,
    "HIGH_SPEND_24H": 10,
    "CRITICAL_SIGNAL": 20,
}
SIGNAL_SCORE_WEIGHT = 40


def authorization_features(authorizations: DataFrame, run_date: date) -> DataFrame:
    """Per authorization of `run_date`: velocity and spend of its card over the preceding hour and day.

    `authorizations` must include the previous day, which only serves as look-back.
    """
    valid = authorizations.where(
        F.col("decode_error").isNull() & F.col("authorization_id").isNotNull() & F.col("card_id").isNotNull()
    ).dropDuplicates(["authorization_id"])
    seconds = F.unix_timestamp("requested_at")
    by_card = Window.partitionBy("card_id").orderBy(seconds)
    last_hour = by_card.rangeBetween(-3600, 0)
    last_day = by_card.rangeBetween(-CARD_SIGNAL_LOOKBACK_SECONDS, 0)
    approved_amount = F.when(F.col("is_approved"), F.col("billing_amount")).otherwise(F.lit(0))
    features = valid.withColumns(
        {
            "card_auths_1h": F.count(F.lit(1)).over(last_hour).cast("int"),
            "card_amount_24h": F.sum(approved_amount).over(last_day).cast("decimal(20,2)"),
            "card_countries_24h": F.size(F.collect_set("merchant_country").over(last_day)),
            "is_high_risk_mcc": is_high_risk_mcc(F.col("merchant_mcc")),
            "is_unauthenticated_ecommerce": F.col("entry_mode").isin(*CARD_NOT_PRESENT_ENTRY_MODES)
            & ~F.coalesce(F.col("three_ds_result").isin(*STRONG_AUTHENTICATION), F.lit(False)),
            "is_fallback_entry": F.col("entry_mode").isin(*FALLBACK_ENTRY_MODES),
        }
    ).withColumnRenamed("decision", "issuer_decision")
    return features.where(F.to_date("requested_at") == F.lit(run_date))


def signal_features(features: DataFrame, signals: DataFrame) -> DataFrame:
    """Add `signal_count`, `max_signal_score`, `has_critical_signal` from the signals about each
    authorization (by source event) or about its card in the 24 hours before it, unless expired."""
    live = signals.where(F.col("signal_id").isNotNull()).dropDuplicates(["signal_id"]).select(
        "signal_id", "entity_type", "entity_id", "source_event_id", "score", "severity", "detected_at", "expires_at"
    )
    auths = features.select("authorization_id", "card_id", "requested_at")
    not_expired = F.col("expires_at").isNull() | (F.col("expires_at") > F.col("requested_at"))
    by_event = auths.join(live, F.col("source_event_id") == F.col("authorization_id")).where(not_expired)
    by_card = auths.join(
        live,
        (F.col("entity_type") == "CARD")
        & (F.col("entity_id") == F.col("card_id"))
        & (F.col("detected_at") <= F.col("requested_at"))
        & (F.col("detected_at") >= F.col("requested_at") - F.expr("INTERVAL 24 HOURS")),
    ).where(not_expired)
    matched = by_event.unionByName(by_card).dropDuplicates(["authorization_id", "signal_id"])
    per_auth = matched.groupBy("authorization_id").agg(
        F.count("signal_id").cast("int").alias("signal_count"),
        F.max("score").alias("max_signal_score"),
        F.max(F.col("severity") == "CRITICAL").alias("has_critical_signal"),
    )
    return (
        features.join(per_auth, "authorization_id", "left")
        .fillna({"signal_count": 0, "max_signal_score": 0.0, "has_critical_signal": False})
    )


def _rule(code: str, condition: Column) -> tuple[Column, Column]:
    hit = F.coalesce(condition, F.lit(False))
    return F.when(hit, F.lit(RULE_POINTS[code])).otherwise(F.lit(0)), F.when(hit, F.lit(code))


def score(features: DataFrame) -> DataFrame:
    """Add `fraud_score` (0-100), `risk_band`, `recommended_action`, `reason_codes`, `scoring_version`."""
    rules = [
        _rule("VELOCITY_1H", F.col("card_auths_1h") >= 5),
        _rule("MULTI_COUNTRY_24H", F.col("card_countries_24h") >= 3),
        _rule("HIGH_RISK_MCC", F.col("is_high_risk_mcc")),
        _rule("UNAUTHENTICATED_CNP", F.col("is_unauthenticated_ecommerce")),
        _rule("FALLBACK_ENTRY", F.col("is_fallback_entry")),
        _rule("HIGH_SPEND_24H", F.col("card_amount_24h") > HIGH_SPEND_24H),
        _rule("CRITICAL_SIGNAL", F.col("has_critical_signal")),
    ]
    points = F.round(F.col("max_signal_score") * SIGNAL_SCORE_WEIGHT).cast("int")
    for rule_points, _ in rules:
        points = points + rule_points
    reasons = F.array_compact(F.array(*[code for _, code in rules]))
    reasons = F.when(F.col("max_signal_score") >= 0.5, F.array_append(reasons, F.lit("FRAUD_SIGNAL"))).otherwise(reasons)
    fraud_score = F.least(points, F.lit(100))
    band = (
        F.when(fraud_score >= 80, "CRITICAL").when(fraud_score >= 60, "HIGH").when(fraud_score >= 30, "MEDIUM").otherwise("LOW")
    )
    action = F.when(band == "CRITICAL", "BLOCK_CARD").when(band == "HIGH", "REVIEW").otherwise("ALLOW")
    return features.withColumns(
        {
            "fraud_score": fraud_score,
            "risk_band": band,
            "recommended_action": action,
            "reason_codes": reasons,
            "scoring_version": F.lit(SCORING_VERSION),
        }
    )


def card_fraud_scores(authorizations: DataFrame, signals: DataFrame, run_date: date) -> DataFrame:
    """lake.card_fraud_scores for `run_date`."""
    return conform(score(signal_features(authorization_features(authorizations, run_date), signals)), CARD_FRAUD_SCORES)
