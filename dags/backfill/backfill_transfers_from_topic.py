"""Backfill: replay transfers from transfers.events.v1 for a range of days.

When transfers_ingest dropped events (a schema change it did not handle, fixed since), the range is
replayed from the topic, which keeps 14 days of events, and the transfers models rebuilt. Beyond 14
days the events are gone from the topic and the range must come from the archived raw events
instead (a different procedure), so the guard limits the range accordingly.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from common.backfill import check_range, range_params
from common.dbt import dbt_task
from common.defaults import default_args
from common.spark import spark_task

with DAG(
    dag_id="backfill_transfers_from_topic",
    description="Replay transfers_ingest from the topic (14-day retention) and rebuild transfers models",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=range_params(max_days=14),
    default_args=default_args(
        owner="payments-data", retries=2, retry_delay=timedelta(minutes=5), execution_timeout=timedelta(hours=12)
    ),
    tags=["backfill", "transfers", "kafka", "replay", "manual"],
):
    guard = check_range(task_id="check_range", max_days=14)
    replay = spark_task(
        task_id="replay_transfers",
        job="transfers_ingest",
        grain="range",
        executor_memory="6g",
    )
    models = dbt_task(
        task_id="rebuild_transfers_models", select="stg_transfers int_transfers_enriched fct_transfers", grain="range"
    )
    guard >> replay >> models
