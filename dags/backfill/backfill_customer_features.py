"""Backfill: rebuild customer features and the customer models for a range of days.

Used when a feature definition changes (a new 90-day aggregate) or an input was restated. The Spark
job is run per day, then the customer staging, activity and dimension are rebuilt per day. The
feature store exports are not re-sent from here: the online store only holds the latest features.
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
    dag_id="backfill_customer_features",
    description="Re-run customer_360_features and the customer dbt models for start_date..end_date",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2024, 3, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=range_params(max_days=120),
    default_args=default_args(
        owner="customer-data", retries=1, retry_delay=timedelta(minutes=20), execution_timeout=timedelta(hours=72)
    ),
    tags=["backfill", "customers", "features", "manual"],
):
    guard = check_range(task_id="check_range", max_days=120)
    features = spark_task(
        task_id="recompute_features",
        job="customer_360_features",
        grain="range",
        executor_memory="16g",
        max_executors=70,
        pool="emr_batch_low_priority",
    )
    models = dbt_task(
        task_id="rebuild_customer_models",
        select="stg_customer_features int_customer_activity dim_customers",
        grain="range",
        pool="dbt_warehouse_low_priority",
    )
    guard >> features >> models
