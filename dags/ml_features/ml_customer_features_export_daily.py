"""ML features: daily export of customer features to the feature store.

The offline feature store is the lake (lake.customer_features); the online store, read by the
onboarding, limits and fraud services at request time, is loaded from the feature store's ingestion
stage, which picks up one parquet folder per feature group and day. This DAG exports the day's
customer features, with the KYC and segment attributes from dim_customers, as that folder.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.lake import partition_sensor
from common.sql import unload_task

with DAG(
    dag_id="ml_customer_features_export_daily",
    description="lake.customer_features + dim_customers -> feature store ingestion (customer_profile_v3)",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("30 6 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 4, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(owner="ml-platform", retries=3, retry_delay=timedelta(minutes=10)),
    tags=["ml", "features", "feature-store", "customers", "daily"],
):
    features = partition_sensor(task_id="wait_for_customer_features", table="lake.customer_features")
    customers = model_sensor(task_id="wait_for_dim_customers", model="dim_customers")

    export = unload_task(
        task_id="export_customer_profile",
        query=(
            "SELECT f.customer_id, f.feature_date AS event_date, f.tenure_days, f.active_accounts,\n"
            "       f.payments_count_90d, f.payments_amount_usd_90d, f.avg_fraud_score_90d, f.max_fraud_score_90d,\n"
            "       c.customer_segment, c.kyc_level, c.is_kyc_verified\n"
            "FROM lake.customer_features f\n"
            "JOIN marts.dim_customers c ON c.customer_id = f.customer_id\n"
            "WHERE f.ds = '{{ ds }}'"
        ),
        stage="feature_store_ingest",
        path="customer_profile_v3",
    )

    [features, customers] >> export
