"""Risk (UK entity): APP scam reimbursement data for the Payment Systems Regulator, monthly.

Since October 2024, sending PSPs reimburse victims of authorised push payment (APP) scams over Faster
Payments and report claims, reimbursements and the share recovered from receiving PSPs. The outbound
Faster Payments transfers that customers reported as scams are in compliance.app_scam_claims (from
the complaints system); this DAG joins them with fct_transfers, exports the month's return and
records the volumes against the month in compliance.app_scam_monthly.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.partitions import MONTH_END, MONTH_START
from common.sql import sql_task, unload_task

with DAG(
    dag_id="report_app_fraud_reimbursement_monthly",
    description="APP scam claims, reimbursements and recoveries on Faster Payments, monthly PSR data",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 6 10 * *", timezone="Europe/London"),
    start_date=pendulum.datetime(2024, 11, 10, tz="Europe/London"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(days=3),
    default_args=default_args(owner="risk-data", retries=2, retry_delay=timedelta(minutes=30)),
    tags=["reporting", "fraud", "app-scams", "psr", "regulatory", "monthly", "uk"],
):
    transfers = model_sensor(task_id="wait_for_month_end_transfers", model="fct_transfers", run_date=MONTH_END)

    record = sql_task(
        task_id="record_month_volumes",
        sql=[
            f"DELETE FROM compliance.app_scam_monthly WHERE month_start = '{MONTH_START}'",
            "INSERT INTO compliance.app_scam_monthly (month_start, claims, claimed_value, reimbursed_value, recovered_value)\n"
            f"SELECT '{MONTH_START}', COUNT(*), SUM(t.amount), SUM(c.reimbursed_amount), SUM(c.recovered_from_receiver)\n"
            "FROM compliance.app_scam_claims c\n"
            "JOIN marts.fct_transfers t ON t.transfer_id = c.transfer_id\n"
            "WHERE t.rail = 'faster_payments' AND t.is_external\n"
            f"  AND c.reported_date BETWEEN '{MONTH_START}' AND '{MONTH_END}'",
        ],
    )

    export = unload_task(
        task_id="export_psr_return",
        query=f"SELECT * FROM compliance.app_scam_monthly WHERE month_start = '{MONTH_START}'",
        stage="regulatory_returns",
        path="psr_app_reimbursement",
        grain="monthly",
        file_format="csv",
        single_file=True,
    )

    transfers >> record >> export
