"""dbt, treasury domain: FX rate staging and the currency dimension.

Runs right after the end-of-day rate cut (fx_rates_eod_ingest, 22:15 UTC): stg_fx_rates and
dim_currencies with the latest rate to USD per currency. It shares that DAG's trigger-time schedule,
so the run of day D builds the rates of day D.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.dbt import dbt_task
from common.defaults import default_args
from common.lake import partition_sensor
from common.quality import quality_check

with DAG(
    dag_id="dbt_fx_daily",
    description="dbt build: stg_fx_rates -> dim_currencies after the 22:00 UTC rate cut",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("40 22 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    default_args=default_args(owner="treasury-data", retries=3, retry_delay=timedelta(minutes=5)),
    tags=["dbt", "fx", "treasury", "daily"],
):
    rates = partition_sensor(
        task_id="wait_for_closing_rates", table="lake.fx_rates_daily", timeout=timedelta(minutes=50)
    )
    build = dbt_task(task_id="build_currencies", select="stg_fx_rates dim_currencies")
    current = quality_check(
        task_id="check_rates_current",
        table="marts.dim_currencies",
        partition_column="latest_rate_date",
        where="is_settlement_currency",
        min_rows=5,
        expressions={"rates_positive": "MIN(latest_rate_to_usd) > 0"},
    )
    rates >> build >> current
