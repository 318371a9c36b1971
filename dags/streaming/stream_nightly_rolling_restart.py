"""Streaming: nightly rolling restart of the streaming jobs at the traffic low.

Long-running Structured Streaming drivers accumulate state-store files and pick up new credentials,
broadcast reference data and configuration only at start. At 03:30 UTC, the daily traffic low, the
three jobs are restarted one after the other (never two at once), from their checkpoints, and the next
one is only restarted once the previous one has committed a micro-batch again. The fraud signal stream
goes first: it is the one whose restart loses nothing if it is slow (signals are re-read from the
topic), and a failure there stops the rolling restart before the tier-1 streams are touched.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, chain

from common.defaults import default_args
from common.spark import spark_task
from common.streaming import stream_progress_sensor

with DAG(
    dag_id="stream_nightly_rolling_restart",
    description="Restart the three streaming jobs one by one at 03:30 UTC, each after the previous commits again",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("30 3 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 6, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    default_args=default_args(
        owner="data-platform", retries=1, retry_delay=timedelta(minutes=2), execution_timeout=timedelta(minutes=15)
    ),
    tags=["streaming", "maintenance", "restart", "daily"],
):
    fraud = spark_task(task_id="restart_fraud_signal_stream", job="fraud_signal_stream", mode="streaming", restart=True)
    fraud_back = stream_progress_sensor(
        task_id="fraud_signal_stream_committing",
        job="fraud_signal_stream",
        grace=timedelta(minutes=1),
        poke_interval=timedelta(seconds=30),
        timeout=timedelta(minutes=10),
    )

    cards = spark_task(
        task_id="restart_card_auth_stream", job="card_auth_stream_ingest", mode="streaming", restart=True
    )
    cards_back = stream_progress_sensor(
        task_id="card_auth_stream_committing",
        job="card_auth_stream_ingest",
        grace=timedelta(minutes=1),
        poke_interval=timedelta(seconds=30),
        timeout=timedelta(minutes=10),
    )

    payments = spark_task(
        task_id="restart_payments_stream", job="payments_stream_ingest", mode="streaming", restart=True
    )
    payments_back = stream_progress_sensor(
        task_id="payments_stream_committing",
        job="payments_stream_ingest",
        grace=timedelta(minutes=1),
        poke_interval=timedelta(seconds=30),
        timeout=timedelta(minutes=10),
    )

    chain(fraud, fraud_back, cards, cards_back, payments, payments_back)
