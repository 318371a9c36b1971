"""Payments: acquirer chargeback and retrieval-request reports into raw.acquirer_chargebacks.

Our two acquiring partners send a daily dispute report (new chargebacks, pre-arbitration, retrieval
requests, reversals) for the merchants we process for. The formats differ (one CSV, one XML), so each
file format has its own loader; both land in the same raw table with the partner in `source_file`.

recon_chargebacks_vs_acquirer compares these reports with lake.chargebacks. One partner does not
report on bank holidays, so its sensor soft-fails after the morning instead of failing the run.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.landing import copy_into_raw, landing_sensor

with DAG(
    dag_id="acquirer_chargeback_reports_ingest",
    description="Acquirer dispute reports (CSV and XML) -> raw.acquirer_chargebacks",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("30 5 * * *", timezone="Europe/London"),
    start_date=pendulum.datetime(2024, 4, 1, tz="Europe/London"),
    catchup=True,
    max_active_runs=3,
    dagrun_timeout=timedelta(hours=7),
    default_args=default_args(owner="payments-data", retries=2, retry_delay=timedelta(minutes=15)),
    tags=["ingestion", "chargebacks", "disputes", "external"],
):
    primary = landing_sensor(
        task_id="wait_for_primary_acquirer_report",
        source="acquirer_primary",
        pattern="disputes_{{ ds_nodash }}.csv",
    )
    secondary = landing_sensor(
        task_id="wait_for_secondary_acquirer_report",
        source="acquirer_secondary",
        pattern="DisputeReport_{{ ds_nodash }}*.xml",
        timeout=timedelta(hours=5),
        soft_fail=True,
    )

    load_primary = copy_into_raw(
        task_id="load_primary_disputes",
        source="acquirer_primary",
        dataset="acquirer_chargebacks",
        file_format="json_lines",
        pattern=".*disputes_.*[.]csv",
    )
    load_secondary = copy_into_raw(
        task_id="load_secondary_disputes",
        source="acquirer_secondary",
        dataset="acquirer_chargebacks_xml",
        file_format="xml_dispute_report",
        pattern=".*DisputeReport_.*[.]xml",
    )

    primary >> load_primary
    secondary >> load_secondary
