"""Accounts: month-end account snapshot, frozen for regulatory returns.

Regulatory returns (safeguarding, statistical returns) report accounts as at the last calendar day of
the month. The daily snapshot of that day is recomputed once more on the 2nd, after late corrections
to account changes have landed, and frozen into `regulatory.accounts_month_end` so that a return can
be reproduced exactly, whatever happens to the daily partitions later.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.kafka import topic_sensor
from common.partitions import MONTH_END
from common.quality import quality_check
from common.spark import spark_task
from common.sql import sql_task

with DAG(
    dag_id="accounts_snapshot_month_end",
    description="Recompute and freeze the month-end account snapshot",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 2 2 * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 2, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    default_args=default_args(owner="customer-data", retries=2, retry_delay=timedelta(minutes=30)),
    tags=["spark", "accounts", "monthly", "regulatory"],
):
    corrections = topic_sensor(
        task_id="wait_for_account_corrections",
        topic="accounts.changes.v1",
        grace=timedelta(minutes=30),
    )

    recompute = spark_task(
        task_id="recompute_month_end_snapshot", job="accounts_snapshot", grain="monthly", executor_memory="12g"
    )

    freeze = sql_task(
        task_id="freeze_snapshot",
        sql=[
            f"DELETE FROM regulatory.accounts_month_end WHERE as_of = '{MONTH_END}'",
            "INSERT INTO regulatory.accounts_month_end\n"
            f"SELECT '{MONTH_END}'::date AS as_of, s.* EXCLUDE (ds) FROM lake.accounts_snapshot s WHERE s.ds = '{MONTH_END}'",
        ],
    )

    frozen = quality_check(
        task_id="check_frozen_snapshot",
        table="regulatory.accounts_month_end",
        grain="monthly",
        partition_column="as_of",
        min_rows=100_000,
        unique=["account_id"],
    )

    corrections >> recompute >> freeze >> frozen
