"""Finance: the daily revenue flash.

Finance's daily flash shows yesterday's revenue by stream against the same weekday of last week. The
export is a single CSV per day in the finance exports stage, which the finance team's BI workbook
reads; the file of a day is overwritten when the day is re-run, never appended to.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.sql import unload_task

with DAG(
    dag_id="report_daily_revenue_flash",
    description="Daily revenue by stream vs same weekday last week -> finance_exports/daily_revenue_flash",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 11 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(owner="finance-reporting", retries=2, retry_delay=timedelta(minutes=10)),
    tags=["reporting", "finance", "revenue", "daily"],
):
    revenue = model_sensor(task_id="wait_for_daily_revenue", model="rpt_daily_revenue")

    export = unload_task(
        task_id="export_flash",
        query=(
            "SELECT d.revenue_stream, d.transactions_count, d.gross_volume_usd, d.revenue_usd,\n"
            "       w.revenue_usd AS revenue_usd_last_week,\n"
            "       d.revenue_usd / NULLIF(w.revenue_usd, 0) - 1 AS change_vs_last_week\n"
            "FROM marts.rpt_daily_revenue d\n"
            "LEFT JOIN marts.rpt_daily_revenue w\n"
            "  ON w.revenue_stream = d.revenue_stream AND w.revenue_date = '{{ macros.ds_add(ds, -7) }}'\n"
            "WHERE d.revenue_date = '{{ ds }}'\n"
            "ORDER BY d.revenue_usd DESC"
        ),
        stage="finance_exports",
        path="daily_revenue_flash",
        file_format="csv",
        single_file=True,
    )

    revenue >> export
