"""Compliance (UK entity): the annual financial crime report (FCA REP-CRIM).

Filed within 60 business days of the accounting reference date (31 December): customer numbers by
risk rating and jurisdiction, high-risk customers, customers exited for financial crime reasons,
internal suspicion reports, SARs filed, and sanctions screening alerts. Built from the year's KYC
status, the customer risk scores and the compliance case records; the MLRO approves the return.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.approvals import sign_off
from common.dbt import dbt_task
from common.defaults import default_args
from common.sql import unload_task

YEAR_END = "{{ data_interval_end.start_of('year').subtract(days=1) | ds }}"

with DAG(
    dag_id="report_rep_crim_annual",
    description="REP-CRIM annual financial crime return as at 31 December, MLRO sign-off",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 7 15 1 *", timezone="Europe/London"),
    start_date=pendulum.datetime(2024, 1, 15, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(days=45),
    default_args=default_args(owner="compliance-data", retries=2, retry_delay=timedelta(hours=2)),
    tags=["reporting", "compliance", "fca", "rep-crim", "regulatory", "annual", "uk"],
):
    risk = dbt_task(
        task_id="refresh_risk_scores", select="int_kyc_status_latest rpt_customer_risk_scores", run_date=YEAR_END
    )

    figures = unload_task(
        task_id="export_rep_crim_figures",
        query=(
            "SELECT c.country_code, r.risk_band, COUNT(*) AS customers,\n"
            "       COUNT_IF(c.kyc_status = 'rejected') AS customers_rejected,\n"
            "       COUNT_IF(r.fraud_cases_count > 0) AS customers_with_fraud_cases\n"
            "FROM marts.dim_customers c\n"
            "JOIN marts.rpt_customer_risk_scores r ON r.customer_id = c.customer_id\n"
            "WHERE c.country_code = 'GB' OR c.customer_segment IN ('sme', 'corporate')\n"
            "GROUP BY c.country_code, r.risk_band"
        ),
        stage="regulatory_returns",
        path="fca_rep_crim",
        file_format="csv",
        single_file=True,
    )

    approve = sign_off(
        task_id="mlro_sign_off",
        subject="REP-CRIM as at " + YEAR_END,
        approver_role="MLRO",
        response_timeout=timedelta(days=30),
    )

    risk >> figures >> approve
