"""Reconciliation: Kafka to lake completeness of the streamed card authorizations, hourly.

The card authorization stream lands every message with its Kafka partition and offset
(lake.card_authorizations_raw). Offsets of a partition are dense, so for the hour's messages the
number of distinct offsets per partition must equal the span of offsets seen (max - min + 1): a gap
is a message that the streaming job lost, a surplus is impossible. Duplicates (at-least-once
delivery) are allowed in the raw table and removed in staging, so they are counted but not failed.

Runs after the topic has moved past the hour, so every offset of the hour has been produced.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.kafka import topic_sensor
from common.quality import quality_check
from common.streaming import stream_progress_sensor

with DAG(
    dag_id="recon_topic_to_lake_completeness",
    description="Offset gaps between cards.authorizations.v1 and lake.card_authorizations_raw, hourly",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("25 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 6, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    dagrun_timeout=timedelta(minutes=55),
    default_args=default_args(
        owner="cards-data", retries=2, retry_delay=timedelta(minutes=5), execution_timeout=timedelta(minutes=20)
    ),
    tags=["reconciliation", "cards", "streaming", "completeness", "hourly"],
):
    produced = topic_sensor(
        task_id="wait_for_topic_past_hour",
        topic="cards.authorizations.v1",
        grace=timedelta(minutes=2),
        poke_interval=timedelta(minutes=1),
        timeout=timedelta(minutes=30),
    )
    landed = stream_progress_sensor(
        task_id="wait_for_stream_past_hour",
        job="card_auth_stream_ingest",
        grace=timedelta(minutes=5),
        poke_interval=timedelta(minutes=1),
        timeout=timedelta(minutes=30),
    )

    no_gaps = quality_check(
        task_id="check_no_offset_gaps",
        table="lake.card_authorizations_raw",
        grain="hourly",
        timestamp_column="authorized_at",
        min_rows=1,
        expressions={
            "offsets_dense_per_partition": (
                "NOT EXISTS (SELECT 1 FROM lake.card_authorizations_raw r WHERE r.ds = '{{ ds }}' "
                "AND r.authorized_at >= '{{ data_interval_start.isoformat() }}'::timestamptz "
                "AND r.authorized_at < '{{ data_interval_end.isoformat() }}'::timestamptz "
                "GROUP BY r.kafka_partition "
                "HAVING COUNT(DISTINCT r.kafka_offset) <> MAX(r.kafka_offset) - MIN(r.kafka_offset) + 1)"
            ),
            "duplicates_below_1pct": "COUNT(*) <= 1.01 * COUNT(DISTINCT kafka_partition, kafka_offset)",
        },
    )

    [produced, landed] >> no_gaps
