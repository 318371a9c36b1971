"""dbt, ledger domain: journal lines and daily balances, in posting-date order.

Builds the ledger staging and fact models and the daily balance per ledger account, which carries the
previous day's closing balance forward: a day can only be built after the day before, hence
depends_on_past and one active run. The daily balances are the input of the trial balance and of the
safeguarding reconciliation (10:00 UK deadline), so a late build pages ledger-data.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.alerts import deadline
from common.dbt import dbt_task
from common.defaults import default_args
from common.lake import partition_sensor

with DAG(
    dag_id="dbt_ledger_daily",
    description="dbt build: stg_ledger_entries -> fct_ledger_entries, int_ledger_balances_daily",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("30 2 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2023, 10, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(
        owner="ledger-data", retries=3, retry_delay=timedelta(minutes=5), depends_on_past=True, severity="critical"
    ),
    deadline=deadline(within=timedelta(hours=2, minutes=30), team="ledger-data", severity="critical"),
    tags=["dbt", "ledger", "daily", "sox"],
):
    lines = partition_sensor(task_id="wait_for_ledger_entries", table="lake.ledger_entries")

    entries = dbt_task(task_id="build_entries", select="stg_ledger_entries fct_ledger_entries")
    balances = dbt_task(task_id="build_daily_balances", select="int_ledger_balances_daily", fail_fast=False)

    lines >> entries >> balances
