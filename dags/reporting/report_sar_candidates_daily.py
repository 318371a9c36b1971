"""Compliance: daily SAR candidate queue for the financial crime investigators.

Customers flagged as suspicious activity report candidates (structuring just under the CTR
threshold, high-risk corridor activity, fraud cases linked to mule behaviour) are exported to the case
management system's import stage each morning, with the fraud alerts of the same customers so that an
investigator sees both at once. The investigators decide whether a SAR is filed; this DAG only opens
the cases.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.sql import unload_task

with DAG(
    dag_id="report_sar_candidates_daily",
    description="SAR candidates with linked fraud alerts -> case management import, daily",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("30 11 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 3, 1, tz="UTC"),
    catchup=True,
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=6),
    default_args=default_args(owner="compliance-data", retries=3, retry_delay=timedelta(minutes=10)),
    tags=["reporting", "aml", "sar", "case-management", "daily"],
):
    aml = model_sensor(task_id="wait_for_aml_report", model="rpt_regulatory_aml")
    alerts = model_sensor(task_id="wait_for_fraud_alerts", model="fct_fraud_alerts")

    cases = unload_task(
        task_id="export_case_candidates",
        query=(
            "SELECT a.customer_id, a.report_date, a.review_reasons, a.outbound_usd_period,\n"
            "       a.high_risk_corridor_transfers,\n"
            "       ARRAY_AGG(OBJECT_CONSTRUCT('alert_id', f.alert_id, 'priority', f.priority,\n"
            "                                  'amount_usd', f.amount_usd, 'raised_at', f.raised_at)) AS fraud_alerts\n"
            "FROM marts.rpt_regulatory_aml a\n"
            "LEFT JOIN marts.fct_fraud_alerts f\n"
            "  ON f.customer_id = a.customer_id AND f.raised_at::date BETWEEN a.period_start AND a.report_date\n"
            "WHERE a.report_date = '{{ ds }}' AND a.is_sar_candidate\n"
            "GROUP BY 1, 2, 3, 4, 5"
        ),
        stage="case_management_import",
        path="sar_candidates",
        file_format="json",
    )

    [aml, alerts] >> cases
