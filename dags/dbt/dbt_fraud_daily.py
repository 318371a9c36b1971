"""dbt, fraud domain: fraud case candidates and alerts from the daily scores.

Builds the staging of lake.card_fraud_scores, the case candidates (scores above the queue threshold,
grouped per card and merchant so that one attack becomes one case) and the alert fact that the fraud
operations queue reads. The queue opens at 06:00 UK time.
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
    dag_id="dbt_fraud_daily",
    description="dbt build: stg_card_fraud_scores -> int_fraud_case_candidates -> fct_fraud_alerts",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("30 3 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(owner="risk-data", retries=3, retry_delay=timedelta(minutes=5), severity="critical"),
    deadline=deadline(within=timedelta(hours=2), team="risk-data", severity="critical"),
    tags=["dbt", "fraud", "daily", "operations"],
):
    scores = partition_sensor(task_id="wait_for_fraud_scores", table="lake.card_fraud_scores")

    build = dbt_task(
        task_id="build_fraud_models",
        select="stg_card_fraud_scores int_fraud_case_candidates fct_fraud_alerts",
        extra_vars={"case_queue_threshold": 0.85},
    )

    scores >> build
