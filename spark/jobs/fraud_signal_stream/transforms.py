"""Pure transforms of the fraud signal stream: flatten signals, join them with their authorization.

A signal that names a `source_event_id` is joined with the authorization of that id when it was
detected within `MATCH_WINDOW` of the request. Both sides are watermarked, so the join keeps bounded
state; a signal whose authorization never arrives is landed without authorization context once the
watermark passes. Signals about other events (or none) are landed straight away.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from finsight_spark.schemas import conform
from finsight_spark.tables import FRAUD_SIGNALS_RAW, partitioned

SIGNALS_TOPIC = "fraud.signals.v1"
AUTHORIZATIONS_TOPIC = "cards.authorizations.v1"
OUTPUT_TABLE = "lake.fraud_signals_raw"

SIGNAL_WATERMARK = "10 minutes"
AUTHORIZATION_WATERMARK = "10 minutes"
MATCH_WINDOW = "15 minutes"  # the decision engine scores an authorization well within this

AUTH_COLUMNS = (
    "authorization_id",
    "card_id",
    "account_id",
    "customer_id",
    "auth_billing_amount",
    "auth_billing_currency",
    "auth_merchant_mcc",
    "auth_merchant_country",
    "auth_decision",
    "auth_requested_at",
)


def flatten_signals(decoded: DataFrame) -> DataFrame:
    """Decodable signals, one column per attribute, the score clamped to [0, 1].

    The table only holds signals that can be acted on; an undecodable signal stays on the topic (three
    days of retention) for the decision engine team to replay.
    """
    record = F.col("record")
    return decoded.where(F.col("decode_error").isNull()).select(
        record.signal_id.alias("signal_id"),
        record.entity_type.alias("entity_type"),
        record.entity_id.alias("entity_id"),
        record.source_event_id.alias("source_event_id"),
        record.signal_type.alias("signal_type"),
        F.least(F.greatest(record.score, F.lit(0.0)), F.lit(1.0)).alias("score"),
        record.severity.alias("severity"),
        record.detector.kind.alias("detector_kind"),
        record.detector["name"].alias("detector_name"),
        record.detector.version.alias("detector_version"),
        record.detected_at.alias("detected_at"),
        record.expires_at.alias("expires_at"),
        record.attributes.alias("attributes"),
        F.col("kafka_partition"),
        F.col("kafka_offset"),
        F.col("kafka_timestamp"),
    )


def authorization_context(decoded: DataFrame) -> DataFrame:
    """What a signal needs to know about the authorization that triggered it."""
    record = F.col("record")
    return decoded.where(F.col("decode_error").isNull()).select(
        record.authorization_id.alias("authorization_id"),
        record.card_id.alias("card_id"),
        record.account_id.alias("account_id"),
        record.customer_id.alias("customer_id"),
        record.billing_amount.alias("auth_billing_amount"),
        F.upper(record.billing_currency).alias("auth_billing_currency"),
        record.merchant.mcc.alias("auth_merchant_mcc"),
        F.upper(record.merchant.country_code).alias("auth_merchant_country"),
        record.decision.alias("auth_decision"),
        record.requested_at.alias("auth_requested_at"),
    )


def _finish(frame: DataFrame) -> DataFrame:
    seconds = F.unix_timestamp("detected_at") - F.unix_timestamp("auth_requested_at")
    return conform(
        frame.withColumn("seconds_after_authorization", seconds).withColumn(
            "ds", F.date_format("detected_at", "yyyy-MM-dd")
        ),
        partitioned(FRAUD_SIGNALS_RAW),
    )


def enrich_signals(signals: DataFrame, authorizations: DataFrame) -> DataFrame:
    """lake.fraud_signals_raw: signals, with authorization context where one triggered them."""
    triggered = signals.where(F.col("source_event_id").isNotNull()).withWatermark("detected_at", SIGNAL_WATERMARK)
    auths = authorizations.withWatermark("auth_requested_at", AUTHORIZATION_WATERMARK)
    condition = (
        (F.col("source_event_id") == F.col("authorization_id"))
        & (F.col("detected_at") >= F.col("auth_requested_at"))
        & (F.col("detected_at") <= F.col("auth_requested_at") + F.expr(f"INTERVAL {MATCH_WINDOW}"))
    )
    joined = triggered.join(auths, condition, "left_outer")
    untriggered = signals.where(F.col("source_event_id").isNull())
    for column in AUTH_COLUMNS:
        untriggered = untriggered.withColumn(column, F.lit(None).cast(authorizations.schema[column].dataType))
    # Card signals name the card as entity; keep it when no authorization matched.
    landed = joined.unionByName(untriggered).withColumn(
        "card_id", F.coalesce(F.col("card_id"), F.when(F.col("entity_type") == "CARD", F.col("entity_id")))
    )
    return _finish(landed)
