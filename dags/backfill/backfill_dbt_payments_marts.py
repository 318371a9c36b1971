"""Backfill: rebuild the payments marts day by day for a range.

For a change in the payments models' logic that must apply to past days (a new fee rule, a corrected
category mapping) without a full refresh of the whole history: the conversion and the fact are
rebuilt for each day of the range with `run_date`, and the merchant daily volume and the revenue
report, which aggregate per day, follow.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from common.backfill import check_range, range_params
from common.dbt import dbt_task
from common.defaults import default_args

with DAG(
    dag_id="backfill_dbt_payments_marts",
    description="dbt build of the payments marts and their daily aggregates for start_date..end_date",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=range_params(max_days=180),
    default_args=default_args(
        owner="payments-data", retries=1, retry_delay=timedelta(minutes=10), execution_timeout=timedelta(hours=36)
    ),
    tags=["backfill", "dbt", "payments", "manual"],
):
    guard = check_range(task_id="check_range", max_days=180)
    facts = dbt_task(
        task_id="rebuild_payment_facts",
        select="int_payments_enriched int_payments_fx_converted fct_payments",
        grain="range",
        pool="dbt_warehouse_low_priority",
    )
    aggregates = dbt_task(
        task_id="rebuild_daily_aggregates",
        select="int_merchant_daily_volume rpt_daily_revenue",
        grain="range",
        pool="dbt_warehouse_low_priority",
    )
    guard >> facts >> aggregates
