"""dbt, payments domain: rebuild the payments fact after the weekly restatement.

payments_clean_weekly_restatement re-runs the week's clean payments on Sunday morning. fct_payments
merges new rows by updated_at, which a restatement does not change, so a restated amount would never
reach the fact. This DAG shares the restatement's schedule (same logical date), waits for that run to
succeed and then rebuilds the payments conversion and fact from scratch.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import dbt_task
from common.defaults import default_args
from common.orchestration import upstream_dag_sensor

with DAG(
    dag_id="dbt_payments_weekly_restatement",
    description="Full refresh of fct_payments after payments_clean_weekly_restatement succeeds",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 5 * * 0", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 7, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=16),
    default_args=default_args(owner="payments-data", retries=1, retry_delay=timedelta(minutes=30), severity="low"),
    tags=["dbt", "payments", "weekly", "restatement", "full-refresh"],
):
    restated = upstream_dag_sensor(
        task_id="wait_for_restatement",
        dag_id="payments_clean_weekly_restatement",
        timeout=timedelta(hours=13),
    )
    rebuild = dbt_task(
        task_id="rebuild_payments_fact",
        select="int_payments_fx_converted fct_payments",
        full_refresh=True,
        pool="dbt_warehouse_low_priority",
        execution_timeout=timedelta(hours=3),
    )
    restated >> rebuild
