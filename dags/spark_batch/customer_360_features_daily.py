"""Customers: daily customer 360 features (lake.customer_features).

`customer_360_features` joins, per customer, the account snapshot, 90 days of clean payments and the
day's fraud scores into the features that the risk scoring, the ML feature store and the customer
analytics marts use: tenure, active accounts, 90-day payment count and USD value, average and maximum
fraud score. It runs after the three inputs are committed.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.lake import partition_sensor
from common.quality import quality_check
from common.spark import spark_task

with DAG(
    dag_id="customer_360_features_daily",
    description="lake.accounts_snapshot + lake.payments_clean + lake.card_fraud_scores -> lake.customer_features",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("30 4 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 3, 1, tz="UTC"),
    catchup=True,
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(owner="customer-data", retries=2, retry_delay=timedelta(minutes=20)),
    tags=["spark", "customers", "features", "daily"],
):
    inputs = [
        partition_sensor(task_id="wait_for_accounts", table="lake.accounts_snapshot"),
        partition_sensor(task_id="wait_for_payments", table="lake.payments_clean"),
        partition_sensor(task_id="wait_for_fraud_scores", table="lake.card_fraud_scores", timeout=timedelta(hours=6)),
    ]

    features = spark_task(
        task_id="compute_customer_features",
        job="customer_360_features",
        executor_memory="16g",
        max_executors=70,
    )

    checks = quality_check(
        task_id="check_customer_features",
        table="lake.customer_features",
        min_rows=100_000,
        not_null=["customer_id", "feature_date", "tenure_days", "active_accounts"],
        unique=["customer_id"],
        non_negative=["tenure_days", "active_accounts", "payments_count_90d", "payments_amount_usd_90d"],
        max_null_ratio={"avg_fraud_score_90d": 0.4},
    )

    inputs >> features >> checks
