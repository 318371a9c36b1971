"""Streaming: hourly backup of the streaming checkpoints.

A corrupted checkpoint (a partial write during an S3 incident, a bad deploy that wrote an
incompatible state) would force a streaming job to restart from the topic's earliest offset or lose
data. Every hour each job's checkpoint is copied to the backup bucket under the run's timestamp, which
is what the restore runbook uses to bring a job back within the five-minute restore objective. Backups
older than 7 days expire by bucket lifecycle rule.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.defaults import default_args
from common.streaming import checkpoint_backup

with DAG(
    dag_id="stream_checkpoint_backup_hourly",
    description="Copy the three streaming checkpoints to the backup bucket every hour",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("7 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 6, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=45),
    default_args=default_args(
        owner="data-platform", retries=2, retry_delay=timedelta(minutes=2), execution_timeout=timedelta(minutes=20)
    ),
    tags=["streaming", "backup", "disaster-recovery", "hourly"],
):
    checkpoint_backup(task_id="backup_payments_stream", job="payments_stream_ingest")
    checkpoint_backup(task_id="backup_card_auth_stream", job="card_auth_stream_ingest")
    checkpoint_backup(task_id="backup_fraud_signal_stream", job="fraud_signal_stream")
