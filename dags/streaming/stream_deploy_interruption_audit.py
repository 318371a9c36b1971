"""Streaming: measure the interruption a deploy caused to the streaming jobs.

The platform promises at most two minutes of interruption for a streaming job during a deploy. After
the deploy pipeline has restarted the streaming jobs with a new version, it triggers this DAG (through
the Airflow API, with the deploy's plan id in the run's conf). For each job, the longest stretch
without a committed micro-batch in the 30 minutes before the trigger must be under two minutes; the
result of every job is part of the deploy's audit record, so each job is checked even if another one
failed.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from common.defaults import default_args
from common.streaming import RUN_AFTER, commit_gap_check

with DAG(
    dag_id="stream_deploy_interruption_audit",
    description="Longest commit gap of each streaming job in the 30 minutes before a deploy's trigger",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2024, 6, 1, tz="UTC"),
    catchup=False,
    max_active_runs=3,
    dagrun_timeout=timedelta(minutes=30),
    params={"plan_id": Param(type="string", minLength=8, title="Deploy plan id")},
    default_args=default_args(owner="data-platform", retries=1, retry_delay=timedelta(minutes=1), severity="high"),
    tags=["streaming", "deploy", "audit", "slo"],
):
    commit_gap_check(
        task_id="payments_stream_gap",
        job="payments_stream_ingest",
        window=timedelta(minutes=30),
        max_gap=timedelta(minutes=2),
        mark=RUN_AFTER,
    )
    commit_gap_check(
        task_id="card_auth_stream_gap",
        job="card_auth_stream_ingest",
        window=timedelta(minutes=30),
        max_gap=timedelta(minutes=2),
        mark=RUN_AFTER,
    )
    commit_gap_check(
        task_id="fraud_signal_stream_gap",
        job="fraud_signal_stream",
        window=timedelta(minutes=30),
        max_gap=timedelta(minutes=2),
        mark=RUN_AFTER,
    )
