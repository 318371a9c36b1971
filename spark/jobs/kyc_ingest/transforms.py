"""Pure transforms of kyc_ingest: KYC events of a day, flattened and ordered within their check, and
the published columns (event, due diligence level, provider, reason codes)."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from finsight_spark.schemas import code, conform
from finsight_spark.tables import KYC_EVENTS

TOPIC = "kyc.events.v1"
OUTPUT_TABLE = "lake.kyc_events"

# Position of each event type in the due diligence flow, so steps order the same across days.
CHECK_STEPS = {
    "CHECK_STARTED": 1,
    "DOCUMENT_SUBMITTED": 2,
    "DOCUMENT_VERIFIED": 3,
    "LIVENESS_PASSED": 4,
    "SANCTIONS_SCREENED": 5,
    "PEP_SCREENED": 6,
    "MANUAL_REVIEW_REQUIRED": 7,
    "CHECK_PASSED": 8,
    "CHECK_FAILED": 8,
    "RECHECK_DUE": 9,
}
OUTCOMES = {"CHECK_PASSED": "PASSED", "CHECK_FAILED": "FAILED"}


def _lookup(mapping: dict, column: F.Column) -> F.Column:
    return F.create_map(*[F.lit(item) for pair in mapping.items() for item in pair])[column]


def kyc_event_details(decoded: DataFrame) -> DataFrame:
    """One day's valid events, each once, with document, screening, step and outcome (what the job's
    data-quality checks read).

    The topic carries no raw identity data; only the document's type, issuing country (ISO alpha-3 as
    printed in the MRZ), expiry and verification status are landed.
    """
    record = F.col("record")
    events = decoded.where(F.col("decode_error").isNull()).select(
        record.event_id.alias("event_id"),
        record.customer_id.alias("customer_id"),
        record.check_id.alias("check_id"),
        record.event_type.alias("event_type"),
        record.check_level.alias("check_level"),
        record.provider.alias("provider"),
        record.document.document_type.alias("document_type"),
        F.upper(record.document.issuing_country).alias("document_country"),
        record.document.expiry_date.alias("document_expiry_date"),
        record.document.verification_status.alias("document_verification_status"),
        record.screening.list_version.alias("screening_list_version"),
        record.screening.hits.alias("screening_hits"),
        record.screening.is_match_confirmed.alias("is_screening_match_confirmed"),
        record.risk_rating.alias("risk_rating"),
        F.array_distinct(record.reason_codes).alias("reason_codes"),
        record.reviewer_id.alias("reviewer_id"),
        F.upper(record.jurisdiction).alias("jurisdiction"),
        record.occurred_at.alias("occurred_at"),
    )
    enriched = (
        events.where(F.col("customer_id").isNotNull() & F.col("check_id").isNotNull())
        .dropDuplicates(["event_id"])
        .withColumns(
            {
                "check_step": _lookup(CHECK_STEPS, F.col("event_type")),
                "is_check_outcome": F.col("event_type").isin(*OUTCOMES),
                "check_outcome": _lookup(OUTCOMES, F.col("event_type")),
            }
        )
    )
    return enriched


def published(events: DataFrame) -> DataFrame:
    """The columns of lake.kyc_events; `reason` lists the event's reason codes, comma-separated."""
    reasons = F.array_join(F.transform(F.col("reason_codes"), code), ",")
    return events.select(
        "event_id",
        "customer_id",
        code(F.col("event_type")).alias("event_type"),
        code(F.col("check_level")).alias("kyc_level"),
        code(F.col("provider")).alias("provider"),
        F.when(reasons != "", reasons).alias("reason"),
        "occurred_at",
    )


def kyc_events(events: DataFrame) -> DataFrame:
    """lake.kyc_events from one day's event details (`kyc_event_details(decoded)`)."""
    return conform(published(events), KYC_EVENTS)
