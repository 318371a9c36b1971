"""Streaming: re-run payments_clean when late events landed in an already processed day.

Payment events can reach lake.payments_raw after the day's payments_clean run (a mobile client that
was offline, a retry storm after an incident). Each day at noon the events of the day before
yesterday that were ingested after that day's payments_clean run was scheduled are counted; when there are more than
500 of them (below that, the weekly restatement absorbs them), payments_clean_daily is re-run for
that day. The downstream daily DAGs pick the new partition up through their own reruns.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.orchestration import rerun_partition
from common.sql import branch_on_sql
from common.streaming import stream_progress_sensor

with DAG(
    dag_id="stream_late_payments_rerun",
    description="Re-run payments_clean_daily for D-1 when >500 late events landed after its run",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 12 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 6, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    default_args=default_args(owner="payments-data", retries=2, retry_delay=timedelta(minutes=10)),
    tags=["streaming", "late-data", "payments", "daily"],
):
    settled = stream_progress_sensor(task_id="wait_for_stream", job="payments_stream_ingest", grace=timedelta(0))

    decide = branch_on_sql(
        task_id="late_events_above_threshold",
        condition=(
            "SELECT COUNT(*) > 500\n"
            "FROM lake.payments_raw\n"
            "WHERE ds = '{{ macros.ds_add(ds, -1) }}'\n"
            # payments_clean_daily's run for that day was scheduled at 01:30 UTC the next day.
            "  AND ingested_at > '{{ ds }}T01:30:00+00:00'::timestamptz"
        ),
        if_true="rerun_payments_clean",
        if_false="nothing_late",
    )

    rerun = rerun_partition(
        task_id="rerun_payments_clean",
        dag_id="payments_clean_daily",
        logical_date="{{ macros.ds_add(ds, -1) }}T01:30:00+00:00",
    )
    nothing = EmptyOperator(task_id="nothing_late")

    settled >> decide >> [rerun, nothing]
