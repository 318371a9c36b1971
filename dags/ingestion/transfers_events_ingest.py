"""Transfers: daily batch ingestion of transfers.events.v1 into lake.transfers.

Transfer lifecycle events (initiated, screened, submitted to the rail, settled, returned) are produced by
the money-movement service to `transfers.events.v1`. Once the topic has moved past the end of the day,
the `transfers_ingest` Spark job reads the day's events by timestamp, keeps the latest state per
transfer and event, and replaces partition `ds` of `lake.transfers`.

Downstream: aml_features_daily, dbt_transfers_daily and the transfers reconciliation wait for the
partition's `_SUCCESS` marker, not for this DAG.

Recovery: clear the run; the job rewrites the partition. Events dropped by the job itself are
replayed from the topic (14 days of retention) with backfill_transfers_from_topic.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.kafka import topic_sensor
from common.quality import quality_check
from common.spark import spark_task

with DAG(
    dag_id="transfers_events_ingest",
    description="transfers.events.v1 -> lake.transfers, one ds partition per day",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("40 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=True,
    max_active_runs=3,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(owner="payments-data", retries=3, retry_delay=timedelta(minutes=10)),
    tags=["ingestion", "transfers", "kafka", "daily"],
):
    events_complete = topic_sensor(task_id="wait_for_transfer_events", topic="transfers.events.v1")

    ingest = spark_task(
        task_id="ingest_transfers",
        job="transfers_ingest",
        executor_memory="6g",
        max_executors=24,
    )

    check = quality_check(
        task_id="check_transfers_partition",
        table="lake.transfers",
        min_rows=20_000,
        not_null=["transfer_id", "source_account_id", "rail", "status", "currency", "amount_minor", "initiated_at"],
        unique=["transfer_id"],
        accepted_values={
            "transfer_type": ["internal", "domestic", "international"],
            "rail": ["internal", "ach", "eft", "fast", "faster_payments", "sepa", "swift"],
            "status": ["pending", "completed", "failed", "returned"],
        },
        non_negative=["amount_minor", "fee_minor"],
        expressions={
            "international_has_country": "COUNT_IF(transfer_type = 'international' AND counterparty_country IS NULL) = 0"
        },
    )

    events_complete >> ingest >> check
