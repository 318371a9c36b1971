"""dbt, customers domain: customer activity and the customer dimension.

int_customer_activity aggregates each customer's accounts, payments and transfers; dim_customers adds
the KYC status and segment. It needs the day's customer features in the lake and the enriched
payments and transfers of the day.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import dbt_task, model_sensor
from common.defaults import default_args
from common.lake import partition_sensor

with DAG(
    dag_id="dbt_customers_daily",
    description="dbt build: stg_customer_features, int_customer_activity -> dim_customers",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 6 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 3, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(owner="customer-data", retries=2, retry_delay=timedelta(minutes=15)),
    tags=["dbt", "customers", "daily"],
):
    features = partition_sensor(task_id="wait_for_customer_features", table="lake.customer_features")
    upstream_models = [
        model_sensor(task_id="wait_for_payments", model="int_payments_enriched"),
        model_sensor(task_id="wait_for_transfers", model="int_transfers_enriched"),
        model_sensor(task_id="wait_for_kyc_status", model="int_kyc_status_latest"),
    ]

    activity = dbt_task(task_id="build_activity", select="stg_customer_features int_customer_activity")
    dimension = dbt_task(task_id="build_dim_customers", select="dim_customers")

    features >> activity
    [activity, *upstream_models] >> dimension
