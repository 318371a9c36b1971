"""dbt, payments domain: merchants, their daily volume and the merchant dimension.

dim_merchants combines the enriched merchant snapshot with lifetime volume and the chargeback rate
against the schemes' monitoring thresholds, so it runs after the day's payments and chargebacks are
built; its output drives the chargeback monitoring report and merchant risk reviews.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import dbt_task, model_sensor
from common.defaults import default_args
from common.lake import partition_sensor

with DAG(
    dag_id="dbt_merchants_daily",
    description="dbt build: stg_merchants, int_merchant_daily_volume -> dim_merchants",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("30 5 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(owner="payments-data", retries=2, retry_delay=timedelta(minutes=15)),
    tags=["dbt", "merchants", "payments", "daily"],
):
    merchants = partition_sensor(task_id="wait_for_merchants", table="lake.merchants")
    payments = model_sensor(task_id="wait_for_fct_payments", model="fct_payments")
    chargebacks = model_sensor(task_id="wait_for_chargeback_rates", model="int_chargeback_rates")

    volume = dbt_task(task_id="build_daily_volume", select="stg_merchants int_merchant_daily_volume")
    dimension = dbt_task(task_id="build_dim_merchants", select="dim_merchants")

    merchants >> volume
    [volume, payments, chargebacks] >> dimension
