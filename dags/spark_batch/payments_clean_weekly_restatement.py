"""Payments: weekly restatement of last week's clean payments.

Two things change a day's clean payments after the fact: the treasury corrects a closing rate (rare,
but it moves the USD amounts of a whole day), and late lifecycle events (refunds, captures after a long
authorization hold) arrive for payments of earlier days. On Sunday morning, every day of the week
that just ended is re-run, oldest first, with the same job as the daily run; each day replaces its
own partition, so the restatement is the daily run repeated and safe to re-run.

The weekly run is what finance's month-end numbers are based on; the daily run is what operations use.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, chain

from common.defaults import default_args
from common.partitions import ds_offset
from common.spark import spark_task

with DAG(
    dag_id="payments_clean_weekly_restatement",
    description="Re-run payments_clean for the seven days of the week that ended",
    doc_md=__doc__,
    # Interval [Sun 05:00, next Sun 05:00): ds is the Sunday that starts the week being restated.
    schedule=CronDataIntervalTimetable("0 5 * * 0", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 7, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=12),
    default_args=default_args(owner="payments-data", retries=2, retry_delay=timedelta(minutes=30), severity="low"),
    tags=["spark", "payments", "weekly", "restatement"],
):
    restatements = [
        spark_task(
            task_id=f"restate_day_{day + 1}",
            job="payments_clean",
            run_date=ds_offset(day),
            executor_memory="16g",
            max_executors=40,
            pool="emr_batch_low_priority",
        )
        for day in range(7)
    ]
    chain(*restatements)
