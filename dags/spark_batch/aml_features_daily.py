"""Compliance: daily AML transaction-monitoring features (lake.aml_features).

`aml_features` computes, per customer and day, the inputs of the transaction-monitoring scenarios:
30-day transaction counts, inbound and outbound value in USD, transfers to high-risk countries, the
structuring flag (repeated amounts just under the currency transaction report threshold) and the
velocity z-score against the customer's own history. The monitoring system consumes them at 06:00 UK time, which is the deadline here.

It needs the day's transfers, KYC events and account snapshot.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.alerts import deadline
from common.defaults import default_args
from common.lake import partition_sensor
from common.quality import quality_check
from common.spark import spark_task

with DAG(
    dag_id="aml_features_daily",
    description="lake.transfers + lake.kyc_events + lake.accounts_snapshot -> lake.aml_features",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("50 2 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(
        owner="compliance-data", retries=3, retry_delay=timedelta(minutes=10), severity="critical"
    ),
    deadline=deadline(within=timedelta(hours=3), team="compliance-data", severity="critical"),
    tags=["spark", "aml", "compliance", "daily", "transaction-monitoring"],
):
    upstream = [
        partition_sensor(task_id="wait_for_transfers", table="lake.transfers"),
        partition_sensor(task_id="wait_for_kyc_events", table="lake.kyc_events"),
        partition_sensor(task_id="wait_for_accounts_snapshot", table="lake.accounts_snapshot"),
    ]

    features = spark_task(task_id="compute_aml_features", job="aml_features", executor_memory="14g", max_executors=50)

    checks = quality_check(
        task_id="check_aml_features",
        table="lake.aml_features",
        not_null=["customer_id", "feature_date", "txn_count_30d", "outbound_amount_usd_30d", "structuring_flag"],
        unique=["customer_id"],
        non_negative=[
            "txn_count_30d",
            "inbound_amount_usd_30d",
            "outbound_amount_usd_30d",
            "high_risk_country_transfers_30d",
        ],
        expressions={
            "covers_active_customers": (
                "COUNT(*) >= 0.99 * (SELECT COUNT(DISTINCT a.customer_id) FROM lake.accounts_snapshot a "
                "WHERE a.ds = '{{ ds }}' AND a.status = 'active')"
            ),
        },
    )

    upstream >> features >> checks
