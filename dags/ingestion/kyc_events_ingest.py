"""KYC: ingestion of kyc.events.v1 into lake.kyc_events.

Identity verification, screening and review outcomes from the onboarding and periodic-review flows.
The `kyc_ingest` job drops document payloads and tokenises document numbers before they reach the
lake; the check below makes sure no passport-like number survives in the reviewers' free-text reason
(the lake is readable by analysts, the KYC vault is not).

KYC events drive account restrictions, so the compliance team wants the day's partition by 03:00 UTC;
the run alerts compliance-data when it is later than that.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.alerts import deadline
from common.defaults import default_args
from common.kafka import topic_sensor
from common.quality import quality_check
from common.spark import spark_task

with DAG(
    dag_id="kyc_events_ingest",
    description="kyc.events.v1 -> lake.kyc_events with document tokenisation check",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("5 1 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=True,
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(owner="compliance-data", retries=2, retry_delay=timedelta(minutes=15)),
    deadline=deadline(within=timedelta(hours=2), team="compliance-data"),
    tags=["ingestion", "kyc", "kafka", "pii"],
):
    wait = topic_sensor(task_id="wait_for_kyc_events", topic="kyc.events.v1", min_partition_ratio=0.75)

    ingest = spark_task(task_id="ingest_kyc_events", job="kyc_ingest", executor_memory="4g")

    no_raw_documents = quality_check(
        task_id="check_documents_tokenised",
        table="lake.kyc_events",
        not_null=["event_id", "customer_id", "event_type", "kyc_level", "occurred_at"],
        unique=["event_id"],
        accepted_values={
            "event_type": ["submitted", "document_verified", "review_requested", "approved", "rejected", "expired"],
            "kyc_level": ["basic", "standard", "enhanced"],
        },
        expressions={
            # Reviewer notes are free text; a document number pasted into them must have been tokenised.
            "no_document_numbers_in_reason": "COUNT_IF(REGEXP_LIKE(reason, '.*[A-Z]{1,2}[0-9]{6,9}.*')) = 0",
        },
    )

    wait >> ingest >> no_raw_documents
