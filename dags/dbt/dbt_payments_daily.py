"""dbt, payments domain: daily build of the payments models.

Builds, for the day's partition, the staging model over lake.payments_clean, the enrichment with
merchant and account attributes, the conversion to USD at the day's closing rate, and the payments
fact table. `dbt build`
runs each model's tests right after it, so a failing test stops the models that depend on it.

Starts when the day's clean payments and closing FX rates are committed in the lake.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.alerts import deadline
from common.dbt import dbt_task
from common.defaults import default_args
from common.lake import partition_sensor

with DAG(
    dag_id="dbt_payments_daily",
    description="dbt build: stg_payments -> int_payments_enriched -> int_payments_fx_converted -> fct_payments",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 4 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(owner="payments-data", retries=2, retry_delay=timedelta(minutes=10)),
    deadline=deadline(within=timedelta(hours=3), team="payments-data"),
    tags=["dbt", "payments", "daily", "marts"],
):
    payments = partition_sensor(task_id="wait_for_payments_clean", table="lake.payments_clean")
    rates = partition_sensor(task_id="wait_for_fx_rates", table="lake.fx_rates_daily")

    staging = dbt_task(task_id="build_staging", select="stg_payments")
    enriched = dbt_task(
        task_id="build_enriched_and_converted",
        select="int_payments_enriched int_payments_fx_converted",
        threads=8,
    )
    fact = dbt_task(task_id="build_fct_payments", select="fct_payments", threads=8)

    [payments, rates] >> staging >> enriched >> fact
