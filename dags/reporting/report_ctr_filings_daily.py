"""Compliance (US entity): currency transaction report (CTR) filing batch.

A CTR is due to FinCEN within 15 calendar days for cash-equivalent transactions over USD 10,000 in a
business day by or on behalf of one person. rpt_regulatory_aml flags customers whose daily outbound
total reached the threshold (`requires_ctr`). Each day's flagged customers are exported as a filing
batch for the BSA E-Filing batch upload; the BSA officer approves the batch before it is marked ready
for submission, and the approval is recorded against the batch.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.alerts import deadline
from common.approvals import sign_off
from common.dbt import model_sensor
from common.defaults import default_args
from common.sql import sql_task, unload_task

with DAG(
    dag_id="report_ctr_filings_daily",
    description="Daily CTR filing batch from rpt_regulatory_aml.requires_ctr, BSA officer approval",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 9 * * *", timezone="America/New_York"),
    start_date=pendulum.datetime(2024, 2, 1, tz="America/New_York"),
    catchup=True,
    max_active_runs=3,
    dagrun_timeout=timedelta(days=10),
    default_args=default_args(owner="compliance-data", retries=2, retry_delay=timedelta(minutes=15)),
    deadline=deadline(within=timedelta(days=7), team="compliance-data", severity="critical"),
    tags=["reporting", "aml", "fincen", "ctr", "regulatory", "us"],
):
    aml = model_sensor(task_id="wait_for_aml_report", model="rpt_regulatory_aml")

    batch = unload_task(
        task_id="export_filing_batch",
        query=(
            "SELECT customer_id, report_date AS transaction_date, country_code, max_daily_outbound_usd,\n"
            "       review_reasons\n"
            "FROM marts.rpt_regulatory_aml\n"
            "WHERE report_date = '{{ ds }}' AND requires_ctr"
        ),
        stage="fincen_filings",
        path="ctr_batches",
        file_format="json",
    )

    approve = sign_off(
        task_id="bsa_officer_approval",
        subject="CTR batch for {{ ds }}",
        approver_role="BSA Officer",
        body="Batch: @fincen_filings/ctr_batches/ds={{ ds }}/ - due to FinCEN by {{ macros.ds_add(ds, 15) }}.",
        response_timeout=timedelta(days=6),
    )

    ready = sql_task(
        task_id="mark_batch_ready",
        sql=[
            "DELETE FROM compliance.filing_batches WHERE filing_type = 'CTR' AND business_date = '{{ ds }}'",
            "INSERT INTO compliance.filing_batches (filing_type, business_date, due_date, status, approved_in_run)\n"
            "VALUES ('CTR', '{{ ds }}', '{{ macros.ds_add(ds, 15) }}', 'READY_FOR_SUBMISSION', '{{ run_id }}')",
        ],
    )

    aml >> batch >> approve >> ready
