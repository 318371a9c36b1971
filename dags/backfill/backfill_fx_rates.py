"""Backfill: re-close FX rates for a range of days and rebuild the currency models.

When treasury corrects rates published on fx.rates.v1 (a corrected rate is published with a higher
sequence number, which the job prefers), the closing rates of the affected days are recomputed from the topic, the currency
staging and dimension are rebuilt, and the affected days' payments must be restated: this DAG ends by
listing the days for the payments backfill, which the engineer triggers after checking the deltas.
The topic keeps 35 days, so older days cannot be re-closed from it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from common.backfill import check_range, range_params
from common.dbt import dbt_task
from common.defaults import default_args
from common.spark import spark_task
from common.sql import sql_task

with DAG(
    dag_id="backfill_fx_rates",
    description="Re-close fx_rates_daily for start_date..end_date (topic retention: 35 days), rebuild currencies",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=range_params(max_days=35),
    default_args=default_args(
        owner="treasury-data", retries=1, retry_delay=timedelta(minutes=10), execution_timeout=timedelta(hours=8)
    ),
    tags=["backfill", "fx", "treasury", "manual"],
):
    guard = check_range(task_id="check_range", max_days=35)
    reclose = spark_task(
        task_id="reclose_rates",
        job="fx_rates_daily",
        grain="range",
        executor_memory="2g",
    )
    currencies = dbt_task(task_id="rebuild_currencies", select="stg_fx_rates dim_currencies", grain="range")
    affected = sql_task(
        task_id="record_affected_days",
        sql=[
            "DELETE FROM ops.restatement_requests WHERE requested_by_run = '{{ run_id }}'",
            "INSERT INTO ops.restatement_requests (requested_by_run, dag_id, start_date, end_date, reason)\n"
            "VALUES ('{{ run_id }}', 'backfill_payments_clean', '{{ params.start_date }}', '{{ params.end_date }}',\n"
            "        'FX re-close: {{ params.reason | replace(\"'\", \"''\") }}')",
        ],
    )
    guard >> reclose >> currencies >> affected
