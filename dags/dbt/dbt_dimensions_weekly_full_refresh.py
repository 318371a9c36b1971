"""dbt: weekly full rebuild of the dimensions.

The dimensions are rebuilt daily from their inputs, but attributes that come from seeds (country risk
ratings, MCC descriptions, currency metadata) only change when a seed changes, and a daily build can
carry a stale attribute if a seed was deployed mid-week. On Sunday night every dimension is rebuilt
from scratch with `--full-refresh`, seeds included in the lineage, in one dbt invocation so that the
dimensions stay consistent with each other.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.dbt import dbt_task
from common.defaults import default_args

with DAG(
    dag_id="dbt_dimensions_weekly_full_refresh",
    description="dbt build --full-refresh of dim_accounts, dim_merchants, dim_customers, dim_currencies",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 23 * * 0", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 7, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(owner="data-platform", retries=1, retry_delay=timedelta(minutes=30), severity="low"),
    tags=["dbt", "dimensions", "weekly", "full-refresh"],
):
    dbt_task(
        task_id="rebuild_dimensions",
        select="dim_accounts dim_merchants dim_customers dim_currencies",
        full_refresh=True,
        threads=4,
        pool="dbt_warehouse_low_priority",
        execution_timeout=timedelta(hours=3),
    )
