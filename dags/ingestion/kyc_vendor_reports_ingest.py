"""KYC: the identity-verification vendor's daily check report into raw.kyc_vendor_checks.

The vendor's report lists every document and biometric check it ran for us on the previous day, with
the outcome and the billable unit. It is the independent record against which kyc.events.v1 is
checked (a check the vendor billed but we never received is a broken onboarding flow) and the basis
of the vendor invoice review.

The vendor occasionally re-issues a day's report with corrections; the landing gateway then replaces
the file and this DAG's run of that date is cleared, which reloads the date.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.landing import copy_into_raw, landing_sensor
from common.quality import quality_check

with DAG(
    dag_id="kyc_vendor_reports_ingest",
    description="Identity-verification vendor's daily check report -> raw.kyc_vendor_checks",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 4 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 5, 1, tz="UTC"),
    catchup=True,
    max_active_runs=5,
    dagrun_timeout=timedelta(hours=6),
    default_args=default_args(owner="compliance-data", retries=2, retry_delay=timedelta(minutes=30), severity="low"),
    tags=["ingestion", "kyc", "vendor", "external"],
):
    report = landing_sensor(
        task_id="wait_for_vendor_report", source="kyc_vendor", pattern="checks_report_{{ ds }}.json.gz"
    )
    load = copy_into_raw(
        task_id="load_vendor_checks", source="kyc_vendor", dataset="kyc_vendor_checks", file_format="json_gzip"
    )
    check = quality_check(
        task_id="check_vendor_checks",
        table="raw.kyc_vendor_checks",
        partition_column="load_ds",
        min_rows=100,
        expressions={
            "check_ids_unique": "COUNT(*) = COUNT(DISTINCT record:check_id::string)",
            "known_outcomes": "COUNT_IF(record:result::string NOT IN ('clear', 'consider', 'rejected')) = 0",
        },
    )

    report >> load >> check
