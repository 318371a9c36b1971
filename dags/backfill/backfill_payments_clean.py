"""Backfill: rebuild lake.payments_clean for a range of days.

For a bug fix in payments_clean or a late correction of raw payments: the job is run once per day of
the range, oldest first, then the range is checked like the daily run checks one day. The downstream
consumers (dbt payments models, merchants, chargebacks, settlements) are not re-run from here; use
the dbt backfill of the affected domain afterwards.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from common.backfill import check_range, range_params
from common.defaults import default_args
from common.quality import quality_check
from common.spark import spark_task

with DAG(
    dag_id="backfill_payments_clean",
    description="Re-run payments_clean for start_date..end_date (at most 93 days)",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=range_params(max_days=93),
    default_args=default_args(owner="payments-data", retries=1, retry_delay=timedelta(minutes=15)),
    tags=["backfill", "spark", "payments", "manual"],
):
    guard = check_range(task_id="check_range", max_days=93)

    rerun = spark_task(
        task_id="rerun_payments_clean",
        job="payments_clean",
        grain="range",
        executor_memory="16g",
        max_executors=60,
        pool="emr_batch_low_priority",
        execution_timeout=timedelta(hours=48),
    )

    checks = quality_check(
        task_id="check_range_rebuilt",
        table="lake.payments_clean",
        grain="range",
        not_null=["payment_id", "amount_minor", "currency", "status"],
        unique=["payment_id"],
    )

    guard >> rerun >> checks
