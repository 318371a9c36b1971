"""Backfill: replay settlement batches and their matching for a range of days.

After an acquirer re-sends corrected settlement files, or after a fix in the batching logic, the
settlement batches are recomputed per day and the settlement models rebuilt, so that the settlement
reconciliations can be re-run for the range (clear their runs in recon_psp_settlement_reports).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from common.backfill import check_range, range_params
from common.dbt import dbt_task
from common.defaults import default_args
from common.quality import quality_check
from common.spark import spark_task

with DAG(
    dag_id="backfill_settlements",
    description="Re-run settlement_batches and the settlement dbt models for start_date..end_date",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=range_params(max_days=62),
    default_args=default_args(
        owner="ledger-data", retries=1, retry_delay=timedelta(minutes=15), execution_timeout=timedelta(hours=24)
    ),
    tags=["backfill", "settlements", "ledger", "manual"],
):
    guard = check_range(task_id="check_range", max_days=62)
    batches = spark_task(task_id="replay_batches", job="settlement_batches", grain="range", executor_memory="8g")
    models = dbt_task(
        task_id="rebuild_settlement_models",
        select="stg_settlements int_settlement_matching fct_settlements",
        grain="range",
    )
    arithmetic = quality_check(
        task_id="check_replayed_settlements",
        table="lake.settlements",
        grain="range",
        unique=["settlement_id"],
        expressions={
            "net_is_gross_minus_fees": "COUNT_IF(gross_amount_minor - fee_amount_minor <> net_amount_minor) = 0"
        },
    )
    guard >> batches >> [models, arithmetic]
