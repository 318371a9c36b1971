"""Backfill: re-score card authorizations for a range of days.

Used after a model promotion that must apply retroactively (the model risk committee decides): the
job scores with the model registered as production when it runs, and replaces the scores the daily
runs wrote for the range. The customer features and the fraud back-tests read the new scores from
their next runs on; re-run backfill_customer_features for the range if the features must follow.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from common.backfill import check_range, range_params
from common.defaults import default_args
from common.spark import spark_task

with DAG(
    dag_id="backfill_card_fraud_scores",
    description="Re-score authorizations for start_date..end_date with the production model",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=range_params(max_days=31),
    default_args=default_args(
        owner="risk-data", retries=1, retry_delay=timedelta(minutes=20), execution_timeout=timedelta(hours=24)
    ),
    tags=["backfill", "spark", "fraud", "model-scoring", "manual"],
):
    check_range(task_id="check_range", max_days=31) >> spark_task(
        task_id="rescore",
        job="card_fraud_scoring",
        grain="range",
        executor_memory="12g",
        max_executors=60,
        pool="emr_batch_low_priority",
    )
