"""Pure transforms of card_fraud_scoring: authorization features, signal features, rule scores.

The rule set is versioned (`SCORING_VERSION`, published as `model_version`); model risk signs off every
change to the weights. Rules add points (capped at 100); the table publishes them as a probability-like
`fraud_score` in [0, 1], a risk band and the rule that contributed most (`top_signal`).
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from finsight_spark.dates import end_of_day
from finsight_spark.mcc import is_high_risk_mcc
from finsight_spark.money import from_minor_units
from finsight_spark.schemas import conform
from finsight_spark.tables import CARD_FRAUD_SCORES

AUTHORIZATIONS_TABLE = "lake.card_authorizations_raw"
SIGNALS_TABLE = "lake.fraud_signals_raw"
OUTPUT_TABLE = "lake.card_fraud_scores"
SCORING_VERSION = "card-rules-2024.11"

# ISO 8583 field 39 codes of an approval: approved, honour with identification, partial, VIP.
APPROVAL_RESPONSE_CODES = ("00", "08", "10", "11")
FALLBACK_ENTRY_MODES = ("magstripe", "manual_key_entry")
CARD_NOT_PRESENT_ENTRY_MODES = ("ecommerce", "card_on_file")
STRONG_AUTHENTICATION = ("authenticated", "attempted")
CARD_SIGNAL_LOOKBACK_SECONDS = 24 * 3600
HIGH_SPEND_24H = 5000  # approved spend of a card in one currency, in its major unit

# (reason code, points) of each rule, in precedence order; signal points are added on top in `score`.
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
SIGNAL_REASON = "FRAUD_SIGNAL"
HIGH_BAND_FROM = 60
MEDIUM_BAND_FROM = 30


def authorization_features(authorizations: DataFrame, run_date: date) -> DataFrame:
    """Per authorization of `run_date`: velocity, countries and spend of its card over the preceding
    hour and day.

    `authorizations` must include the previous day, which only serves as look-back.
    """
    valid = authorizations.where(
        F.col("authorization_id").isNotNull() & F.col("card_id").isNotNull() & F.col("authorized_at").isNotNull()
    ).dropDuplicates(["authorization_id"])
    seconds = F.unix_timestamp("authorized_at")
    by_card = Window.partitionBy("card_id").orderBy(seconds)
    last_hour = by_card.rangeBetween(-3600, 0)
    last_day = by_card.rangeBetween(-CARD_SIGNAL_LOOKBACK_SECONDS, 0)
    last_day_same_currency = Window.partitionBy("card_id", "currency").orderBy(seconds).rangeBetween(
        -CARD_SIGNAL_LOOKBACK_SECONDS, 0
    )
    approved = F.col("response_code").isin(*APPROVAL_RESPONSE_CODES)
    approved_amount = F.when(approved, from_minor_units(F.col("amount_minor"), F.col("currency"))).otherwise(F.lit(0))
    features = valid.withColumns(
        {
            "card_auths_1h": F.count(F.lit(1)).over(last_hour).cast("int"),
            "card_amount_24h": F.sum(approved_amount).over(last_day_same_currency).cast("decimal(20,2)"),
            "card_countries_24h": F.size(F.collect_set("merchant_country").over(last_day)),
            "is_high_risk_mcc": is_high_risk_mcc(F.col("mcc")),
            "is_unauthenticated_ecommerce": F.col("entry_mode").isin(*CARD_NOT_PRESENT_ENTRY_MODES)
            & ~F.coalesce(F.col("three_ds_result").isin(*STRONG_AUTHENTICATION), F.lit(False)),
            "is_fallback_entry": F.col("entry_mode").isin(*FALLBACK_ENTRY_MODES),
        }
    )
    return features.where(F.to_date("authorized_at") == F.lit(run_date))


def signal_features(features: DataFrame, signals: DataFrame) -> DataFrame:
    """Add `signal_count`, `max_signal_score`, `has_critical_signal` from the signals about each
    authorization (by source event) or about its card in the 24 hours before it, unless expired."""
    live = signals.where(F.col("signal_id").isNotNull()).dropDuplicates(["signal_id"]).select(
        "signal_id", "entity_type", "entity_id", "source_event_id", "score", "severity", "detected_at", "expires_at"
    )
    auths = features.select("authorization_id", "card_id", "authorized_at")
    not_expired = F.col("expires_at").isNull() | (F.col("expires_at") > F.col("authorized_at"))
    by_event = auths.join(live, F.col("source_event_id") == F.col("authorization_id")).where(not_expired)
    by_card = auths.join(
        live,
        (F.col("entity_type") == "CARD")
        & (F.col("entity_id") == F.col("card_id"))
        & (F.col("detected_at") <= F.col("authorized_at"))
        & (F.col("detected_at") >= F.col("authorized_at") - F.expr("INTERVAL 24 HOURS")),
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
    """Add `points` (0-100), `reason_codes` and `top_reason` (the reason with the most points, the
    earlier rule on a tie; null without any)."""
    rules = [
        _rule("VELOCITY_1H", F.col("card_auths_1h") >= 5),
        _rule("MULTI_COUNTRY_24H", F.col("card_countries_24h") >= 3),
        _rule("HIGH_RISK_MCC", F.col("is_high_risk_mcc")),
        _rule("UNAUTHENTICATED_CNP", F.col("is_unauthenticated_ecommerce")),
        _rule("FALLBACK_ENTRY", F.col("is_fallback_entry")),
        _rule("HIGH_SPEND_24H", F.col("card_amount_24h") > HIGH_SPEND_24H),
        _rule("CRITICAL_SIGNAL", F.col("has_critical_signal")),
    ]
    signal_points = F.round(F.col("max_signal_score") * SIGNAL_SCORE_WEIGHT).cast("int")
    points = signal_points
    for rule_points, _ in rules:
        points = points + rule_points
    reasons = F.array_compact(F.array(*[reason for _, reason in rules]))
    reasons = F.when(F.col("max_signal_score") >= 0.5, F.array_append(reasons, F.lit(SIGNAL_REASON))).otherwise(reasons)
    # (points, precedence, reason) of every contribution, rules first; the greatest is the top reason.
    contributions = [
        F.struct(contributed.alias("points"), F.lit(-rank).alias("precedence"), F.lit(reason).alias("reason"))
        for rank, (contributed, reason) in enumerate(
            [*((rule_points, code) for (rule_points, _), code in zip(rules, RULE_POINTS)), (signal_points, SIGNAL_REASON)]
        )
    ]
    top = F.array_max(F.array(*contributions))
    return features.withColumns(
        {
            "points": F.least(points, F.lit(100)),
            "reason_codes": reasons,
            "top_reason": F.when(top.points > 0, top.reason),
        }
    )


def scored_authorizations(authorizations: DataFrame, signals: DataFrame, run_date: date) -> DataFrame:
    """Every authorization of `run_date` with its features, signals, points and reasons."""
    return score(signal_features(authorization_features(authorizations, run_date), signals))


def published(scored: DataFrame, run_date: date) -> DataFrame:
    """The columns of lake.card_fraud_scores: one score row per authorization and scoring version."""
    fraud_score = (F.col("points") / F.lit(100)).cast("decimal(5,4)")
    band = F.when(F.col("points") >= HIGH_BAND_FROM, "high").when(F.col("points") >= MEDIUM_BAND_FROM, "medium")
    score_id = F.sha2(F.concat_ws("|", F.lit("score"), F.col("authorization_id"), F.lit(SCORING_VERSION)), 256)
    return scored.select(
        score_id.alias("score_id"),
        "authorization_id",
        F.lit(SCORING_VERSION).alias("model_version"),
        fraud_score.alias("fraud_score"),
        band.otherwise("low").alias("risk_band"),
        F.coalesce(F.lower(F.col("top_reason")), F.lit("none")).alias("top_signal"),
        F.lit(end_of_day(run_date)).alias("scored_at"),
        "account_id",
    )


def card_fraud_scores(authorizations: DataFrame, signals: DataFrame, run_date: date) -> DataFrame:
    """lake.card_fraud_scores for `run_date`."""
    return conform(published(scored_authorizations(authorizations, signals, run_date), run_date), CARD_FRAUD_SCORES)
