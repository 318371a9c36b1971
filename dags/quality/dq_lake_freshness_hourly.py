"""Data quality: hourly freshness of the streamed lake tables.

The streaming ingests are the platform's heartbeat: if one stalls, every downstream daily run will
wait and then time out hours later. Every hour this DAG checks, as of the end of the hour:

* card authorizations landed in the last 30 minutes (lake.card_authorizations_raw.ingested_at);
* the payments and fraud signal streams committed a micro-batch in the last 15 minutes;
* the device-intelligence vendor export of the previous hour was loaded (best effort, low severity).

A stale table alerts data-platform before anyone downstream notices.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.quality import quality_check
from common.streaming import stream_lag_check

with DAG(
    dag_id="dq_lake_freshness_hourly",
    description="Freshness of the streamed lake tables and of the hourly vendor load",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("5 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 6, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=45),
    default_args=default_args(
        owner="data-platform", retries=1, retry_delay=timedelta(minutes=2), execution_timeout=timedelta(minutes=10)
    ),
    tags=["quality", "freshness", "streaming", "hourly"],
):
    authorizations = quality_check(
        task_id="check_authorizations_fresh",
        table="lake.card_authorizations_raw",
        partition_column=None,
        where="ds >= '{{ macros.ds_add(ds, -1) }}'",
        timestamp_column="ingested_at",
        freshness=timedelta(minutes=30),
    )
    payments_stream = stream_lag_check(
        task_id="check_payments_stream_lag", job="payments_stream_ingest", max_lag=timedelta(minutes=15)
    )
    signals_stream = stream_lag_check(
        task_id="check_fraud_signal_stream_lag", job="fraud_signal_stream", max_lag=timedelta(minutes=15)
    )
    device_sessions = quality_check(
        task_id="check_device_sessions_loaded",
        table="raw.device_sessions",
        partition_column="load_ds",
        where="load_hour = {{ data_interval_start.subtract(hours=1).hour }}",
        min_rows=1,
    )
