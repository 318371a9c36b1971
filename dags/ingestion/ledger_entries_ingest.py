"""Ledger: ingestion of ledger.entries.v1 into lake.ledger_entries, strictly in date order.

The general ledger publishes every posted journal line to `ledger.entries.v1`. The `ledger_ingest` job
lands the lines of a posting date into partition `ds` of `lake.ledger_entries`. Ledger partitions are
the source of the trial balance and of the safeguarding reconciliation, so runs are sequential
(`depends_on_past`, one active run): a gap in the ledger must stop the line, never be skipped.

After landing, the partition must balance: for every journal, debits equal credits in the entry
currency, and every line carries a GL account code. An unbalanced partition fails the run and pages
ledger-data (severity critical) before finance sees a wrong balance.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.alerts import deadline
from common.defaults import default_args
from common.kafka import topic_sensor
from common.quality import quality_check
from common.spark import spark_task

with DAG(
    dag_id="ledger_entries_ingest",
    description="ledger.entries.v1 -> lake.ledger_entries; sequential, balance-checked",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("45 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2023, 10, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(
        owner="ledger-data",
        retries=4,
        retry_delay=timedelta(minutes=5),
        backoff_multiplier=2,
        max_retry_delay=timedelta(minutes=40),
        depends_on_past=True,
        severity="critical",
    ),
    deadline=deadline(within=timedelta(hours=3), team="ledger-data", severity="critical"),
    tags=["ingestion", "ledger", "kafka", "sox"],
):
    lines_published = topic_sensor(
        task_id="wait_for_ledger_lines",
        topic="ledger.entries.v1",
        grace=timedelta(minutes=15),
        timeout=timedelta(hours=2),
    )

    ingest = spark_task(task_id="ingest_ledger_lines", job="ledger_ingest", executor_memory="4g", max_executors=12)

    balanced = quality_check(
        task_id="check_journals_balance",
        table="lake.ledger_entries",
        min_rows=1,
        not_null=[
            "entry_id",
            "journal_id",
            "gl_account_code",
            "direction",
            "amount_minor",
            "currency",
            "effective_date",
        ],
        unique=["entry_id"],
        accepted_values={"direction": ["D", "C"]},
        non_negative=["amount_minor"],
        expressions={
            "journals_balance": (
                "NOT EXISTS (SELECT 1 FROM lake.ledger_entries j WHERE j.ds = '{{ ds }}' "
                "GROUP BY j.journal_id, j.currency "
                "HAVING SUM(CASE WHEN j.direction = 'D' THEN j.amount_minor ELSE -j.amount_minor END) <> 0)"
            ),
        },
    )

    lines_published >> ingest >> balanced
