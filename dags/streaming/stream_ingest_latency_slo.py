"""Streaming: end-to-end latency SLO of the card authorization ingest, every ten minutes.

The fraud team's promise is that an authorization is queryable in the lake within 60 seconds at the
99th percentile (authorized_at to ingested_at). Every ten minutes the authorizations ingested in the
interval are checked against that, and against the softer 15-second median. A breach is high severity
(not critical): the streaming job is usually still healthy, only slow, and the supervisor pages if it
stops.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.quality import quality_check

with DAG(
    dag_id="stream_ingest_latency_slo",
    description="p99 authorized_at -> ingested_at below 60 s and median below 15 s, per 10 minutes",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("*/10 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 6, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=9),
    default_args=default_args(
        owner="cards-data", retries=1, retry_delay=timedelta(minutes=1), execution_timeout=timedelta(minutes=5)
    ),
    tags=["streaming", "slo", "latency", "cards"],
):
    quality_check(
        task_id="check_latency",
        table="lake.card_authorizations_raw",
        grain="hourly",
        timestamp_column="ingested_at",
        min_rows=1,
        expressions={
            "p99_below_60s": "APPROX_PERCENTILE(DATEDIFF('millisecond', authorized_at, ingested_at), 0.99) <= 60000",
            "median_below_15s": "MEDIAN(DATEDIFF('millisecond', authorized_at, ingested_at)) <= 15000",
        },
    )
