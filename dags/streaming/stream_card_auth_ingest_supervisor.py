"""Streaming: supervision of card_auth_stream_ingest, every two minutes.

Card authorizations feed the fraud signal stream and the intraday operations view, and the fraud team
promises a two-minute end-to-end latency. The supervisor therefore runs every two minutes, keeps the
application running, and alerts (critical) when the last commit is more than two minutes old. The
job runs with more, smaller executors than the payments stream and a 20-second trigger, with each
micro-batch capped so that a backlog after a restart is worked off in bounded batches: authorizations
peak at 80K events per second at lunchtime and on Black Friday.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.defaults import default_args
from common.spark import spark_task
from common.streaming import stream_lag_check

with DAG(
    dag_id="stream_card_auth_ingest_supervisor",
    description="Ensure card_auth_stream_ingest runs and commits within 2 minutes",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("*/2 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 6, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=6),
    default_args=default_args(
        owner="cards-data",
        retries=1,
        retry_delay=timedelta(seconds=30),
        execution_timeout=timedelta(minutes=4),
        severity="critical",
    ),
    tags=["streaming", "supervision", "cards", "tier-1"],
):
    spark_task(
        task_id="ensure_running",
        job="card_auth_stream_ingest",
        mode="streaming",
        executor_memory="6g",
        executor_cores=3,
        max_executors=64,
        conf={"spark.sql.shuffle.partitions": "96"},
        args=["--trigger-interval", "20 seconds", "--max-records-per-trigger", "3000000"],
    ) >> stream_lag_check(task_id="check_commit_lag", job="card_auth_stream_ingest", max_lag=timedelta(minutes=2))
