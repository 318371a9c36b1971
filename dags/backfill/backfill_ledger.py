"""Backfill: re-ingest ledger lines and rebuild the ledger models for a range.

The ledger is append-only upstream, but the ingestion can be re-run after a fix (for example a
currency precision bug): ledger_ingest replays the range from ledger.entries.v1 day by day (the topic
is compacted by entry id and keeps the full history), then the ledger fact and the daily balances are
rebuilt in date order. The days' trial balances must be re-run afterwards; the range therefore needs a
sign-off reason that names the approved change.
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
    dag_id="backfill_ledger",
    description="Replay ledger_ingest and rebuild ledger dbt models in date order for start_date..end_date",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2023, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=range_params(max_days=370),
    default_args=default_args(
        owner="ledger-data",
        retries=1,
        retry_delay=timedelta(minutes=15),
        execution_timeout=timedelta(hours=48),
        severity="critical",
    ),
    tags=["backfill", "ledger", "sox", "manual"],
):
    guard = check_range(task_id="check_range", max_days=370)
    replay = spark_task(task_id="replay_ledger_lines", job="ledger_ingest", grain="range", executor_memory="4g")
    models = dbt_task(
        task_id="rebuild_ledger_models",
        select="stg_ledger_entries fct_ledger_entries int_ledger_balances_daily",
        grain="range",
        threads=2,
    )
    guard >> replay >> models
