"""Streaming: supervision of fraud_signal_stream, every five minutes.

fraud_signal_stream joins fraud.signals.v1 with the card authorizations and writes
lake.fraud_signals_raw. Signals are bursty (a consortium feed delivers batches), so a quiet stream is
not necessarily a stalled one: the lag check allows ten minutes, and only alerts at high severity.
Before checking the lag, the supervisor checks that the signal topic itself is being produced to
(past the run's time), so that a producer outage is not reported as a stalled stream.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.defaults import default_args
from common.kafka import topic_sensor
from common.spark import spark_task
from common.streaming import stream_lag_check

with DAG(
    dag_id="stream_fraud_signal_supervisor",
    description="Ensure fraud_signal_stream runs; lag check only when fraud.signals.v1 is produced to",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("1-59/5 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 6, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=20),
    default_args=default_args(
        owner="risk-data", retries=1, retry_delay=timedelta(minutes=1), execution_timeout=timedelta(minutes=8)
    ),
    tags=["streaming", "supervision", "fraud"],
):
    running = spark_task(
        task_id="ensure_running", job="fraud_signal_stream", mode="streaming", executor_memory="4g", max_executors=16
    )

    produced = topic_sensor(
        task_id="wait_for_signals_produced",
        topic="fraud.signals.v1",
        grace=timedelta(0),
        min_partition_ratio=0.5,
        poke_interval=timedelta(minutes=1),
        timeout=timedelta(minutes=10),
        soft_fail=True,
    )
    committing = stream_lag_check(task_id="check_commit_lag", job="fraud_signal_stream", max_lag=timedelta(minutes=10))

    running >> produced >> committing
