"""Finance: weekly card revenue and network cost by network.

Card revenue (merchant service fees) net of network costs is the margin the commercial team manages
per network. Every Monday the week that ended (Monday to Sunday) is reported per network and currency
from the authorizations, the payments' revenue and the chargeback losses, for the weekly commercial
review.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.sql import unload_task

WEEK_START = "{{ data_interval_start | ds }}"
WEEK_END = "{{ data_interval_end.subtract(days=1) | ds }}"

with DAG(
    dag_id="report_interchange_revenue_weekly",
    description="Card revenue, network fees and chargeback losses per network for the week",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 0 * * 1", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=12),
    default_args=default_args(owner="finance-reporting", retries=2, retry_delay=timedelta(minutes=30), severity="low"),
    tags=["reporting", "finance", "cards", "weekly"],
):
    sunday_revenue = model_sensor(task_id="wait_for_sunday_revenue", model="rpt_daily_revenue", offset_days=6)

    weekly = unload_task(
        task_id="export_week",
        query=(
            "SELECT a.network, a.currency_code, COUNT(*) AS approved_authorizations,\n"
            "       SUM(a.amount_usd) AS volume_usd,\n"
            "       SUM(CASE WHEN c.is_lost THEN c.amount_usd ELSE 0 END) AS chargeback_losses_usd\n"
            "FROM marts.fct_card_authorizations a\n"
            "LEFT JOIN marts.fct_chargebacks c ON c.payment_id = a.payment_id\n"
            f"WHERE a.is_approved AND a.authorized_date BETWEEN '{WEEK_START}' AND '{WEEK_END}'\n"
            "GROUP BY a.network, a.currency_code"
        ),
        stage="finance_exports",
        path="weekly_card_margin",
        file_format="csv",
        single_file=True,
    )

    sunday_revenue >> weekly
