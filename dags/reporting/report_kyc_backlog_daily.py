"""Compliance: the KYC review backlog and its SLA, twice a day.

Applications waiting for a manual KYC review (`review_requested`) must be decided within two business
days; beyond that the applicant is likely to abandon and the regulator expects the backlog to be
monitored. Twice a day the backlog is exported by age band for the onboarding operations lead, and
the run fails (alerting compliance at low severity) when any review is older than five days.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, MultipleCronTriggerTimetable

from common.dbt import dbt_task
from common.defaults import default_args
from common.quality import quality_check
from common.sql import unload_task

with DAG(
    dag_id="report_kyc_backlog_daily",
    description="Manual KYC reviews waiting, by age band; fails past five days",
    doc_md=__doc__,
    schedule=MultipleCronTriggerTimetable("0 8 * * 1-5", "0 14 * * 1-5", timezone="Europe/London"),
    start_date=pendulum.datetime(2024, 3, 1, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    default_args=default_args(owner="compliance-data", retries=1, retry_delay=timedelta(minutes=10), severity="low"),
    tags=["reporting", "kyc", "operations", "sla"],
):
    status = dbt_task(task_id="refresh_kyc_status", select="int_kyc_status_latest")

    backlog = unload_task(
        task_id="export_backlog",
        query=(
            "SELECT CASE WHEN age_days <= 2 THEN '0-2' WHEN age_days <= 5 THEN '3-5' ELSE '6+' END AS age_band,\n"
            "       kyc_level, COUNT(*) AS applications\n"
            "FROM (SELECT kyc_level, DATEDIFF('day', last_event_at, '{{ logical_date.isoformat() }}'::timestamptz) AS age_days\n"
            "      FROM intermediate.int_kyc_status_latest WHERE latest_event_type = 'review_requested')\n"
            "GROUP BY 1, 2"
        ),
        stage="compliance_reports",
        path="kyc_backlog",
        grain="hourly",
        file_format="csv",
        single_file=True,
    )

    within_sla = quality_check(
        task_id="check_no_review_older_than_five_days",
        table="intermediate.int_kyc_status_latest",
        partition_column=None,
        where="latest_event_type = 'review_requested'",
        expressions={"none_older_than_5_days": "COUNT_IF(last_event_at < '{{ macros.ds_add(ds, -5) }}') = 0"},
    )

    status >> [backlog, within_sla]
