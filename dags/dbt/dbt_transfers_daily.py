"""dbt, transfers domain: daily transfers models.

Staging over lake.transfers, enrichment with counterparty bank, rail fees and FX, and the transfers
fact table. Transfers are built after the lake partition is committed; returns that arrive later are
folded in by the next days' builds (the fact table is incremental on transfer_id).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import dbt_task
from common.defaults import default_args
from common.lake import partition_sensor

with DAG(
    dag_id="dbt_transfers_daily",
    description="dbt build: stg_transfers -> int_transfers_enriched -> fct_transfers",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("20 3 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=True,
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(owner="payments-data", retries=2, retry_delay=timedelta(minutes=10)),
    tags=["dbt", "transfers", "daily"],
):
    transfers = partition_sensor(task_id="wait_for_transfers", table="lake.transfers")
    build = dbt_task(task_id="build_transfers", select="stg_transfers int_transfers_enriched fct_transfers")
    transfers >> build
