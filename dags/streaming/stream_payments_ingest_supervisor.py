"""Streaming: supervision of payments_stream_ingest, every five minutes.

payments_stream_ingest reads payments.transactions.v1 continuously and writes lake.payments_raw. YARN
restarts a failed driver up to four times an hour; beyond that the application stops. Every five
minutes this DAG makes sure an application named `finsight-stream-payments_stream_ingest` is running
(and submits it, from its checkpoint, if not), then checks that the query committed a micro-batch in
the last five minutes. Both are idempotent: running the DAG twice changes nothing.

No catch-up: a supervision run is about now; missed runs are not worth replaying.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.defaults import default_args
from common.spark import spark_task
from common.streaming import stream_lag_check

with DAG(
    dag_id="stream_payments_ingest_supervisor",
    description="Ensure payments_stream_ingest runs and commits within 5 minutes",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("*/5 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 6, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=15),
    default_args=default_args(
        owner="payments-data",
        retries=1,
        retry_delay=timedelta(minutes=1),
        execution_timeout=timedelta(minutes=8),
        severity="critical",
    ),
    tags=["streaming", "supervision", "payments", "tier-1"],
):
    running = spark_task(
        task_id="ensure_running",
        job="payments_stream_ingest",
        mode="streaming",
        executor_memory="8g",
        executor_cores=4,
        max_executors=24,
        conf={"spark.sql.streaming.minBatchesToRetain": "200"},
        args=["--trigger-interval", "1 minute"],
    )
    committing = stream_lag_check(
        task_id="check_commit_lag", job="payments_stream_ingest", max_lag=timedelta(minutes=5)
    )

    running >> committing
