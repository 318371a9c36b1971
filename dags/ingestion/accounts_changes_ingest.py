"""Accounts: daily snapshot of every account from accounts.changes.v1.

`accounts.changes.v1` carries every change to an account (opening, product switch, limit change,
freeze, closure). The `accounts_snapshot` job folds the day's changes onto the previous day's
snapshot and writes the state of every account at the end of the day as partition `ds` of
`lake.accounts_snapshot`; a snapshot therefore needs its predecessor, hence sequential runs.

The snapshot must hold exactly one row per account, and the number of open accounts may not drop by
more than 2% in a day (a mass closure is real news, a truncated fold is a bug).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.kafka import topic_sensor
from common.lake import partition_sensor
from common.quality import quality_check
from common.spark import spark_task

with DAG(
    dag_id="accounts_changes_ingest",
    description="accounts.changes.v1 folded onto yesterday's snapshot -> lake.accounts_snapshot",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("20 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(
        owner="customer-data", retries=3, retry_delay=timedelta(minutes=10), depends_on_past=True
    ),
    tags=["ingestion", "accounts", "kafka", "snapshot"],
):
    changes = topic_sensor(task_id="wait_for_account_changes", topic="accounts.changes.v1")
    previous = partition_sensor(
        task_id="wait_for_previous_snapshot",
        table="lake.accounts_snapshot",
        offset_days=-1,
        timeout=timedelta(minutes=30),
    )

    fold = spark_task(
        task_id="fold_changes_into_snapshot", job="accounts_snapshot", executor_memory="12g", max_executors=30
    )

    one_row_per_account = quality_check(
        task_id="check_snapshot",
        table="lake.accounts_snapshot",
        min_rows=100_000,
        not_null=["account_id", "customer_id", "account_type", "status", "currency", "opened_at", "snapshot_date"],
        unique=["account_id"],
        accepted_values={
            "status": ["active", "frozen", "closed"],
            "account_type": ["checking", "savings", "business"],
            "customer_segment": ["retail", "sme", "corporate"],
        },
        expressions={
            "open_accounts_stable": (
                "COUNT_IF(status <> 'closed') >= 0.98 * (SELECT COUNT_IF(p.status <> 'closed') "
                "FROM lake.accounts_snapshot p WHERE p.ds = '{{ macros.ds_add(ds, -1) }}')"
            ),
            "closed_accounts_have_closed_at": "COUNT_IF(status = 'closed' AND closed_at IS NULL) = 0",
        },
    )

    [changes, previous] >> fold >> one_row_per_account
