"""Streaming: liveness of the high-volume producers, every fifteen minutes.

The payments API, the card processor gateway and the money-movement service produce thousands of
events per minute, around the clock. If one of them stops producing, the streaming jobs look healthy
(they commit empty micro-batches) and nothing downstream notices until the daily runs wait for a
topic that never moves past midnight. For each of the three topics, every partition must have records
past the end of the fifteen-minute interval within five minutes; otherwise the producing team is
paged through this DAG's failure.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.kafka import topic_sensor

with DAG(
    dag_id="stream_producer_liveness",
    description="Each partition of the payments, authorizations and transfers topics moves every 15 minutes",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("*/15 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 6, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    dagrun_timeout=timedelta(minutes=14),
    default_args=default_args(owner="data-platform", retries=1, retry_delay=timedelta(seconds=30), severity="critical"),
    tags=["streaming", "kafka", "liveness", "monitoring"],
):
    # Transfers are quieter at night: one idle partition in ten is tolerated.
    topic_sensor(
        task_id="payments_topic_moves",
        topic="payments.transactions.v1",
        grace=timedelta(0),
        poke_interval=timedelta(seconds=60),
        timeout=timedelta(minutes=5),
    )
    topic_sensor(
        task_id="authorizations_topic_moves",
        topic="cards.authorizations.v1",
        grace=timedelta(0),
        poke_interval=timedelta(seconds=60),
        timeout=timedelta(minutes=5),
    )
    topic_sensor(
        task_id="transfers_topic_moves",
        topic="transfers.events.v1",
        grace=timedelta(0),
        min_partition_ratio=0.9,
        poke_interval=timedelta(seconds=60),
        timeout=timedelta(minutes=5),
    )
