"""dbt: monthly full refresh of the merge-incremental card and ledger facts.

fct_card_authorizations and fct_ledger_entries are incremental (merge on their keys, new rows found by
ingestion or posting time). A merge never removes a row whose source row was deleted (test
authorizations purged by the card processor, ledger lines of a reversed and purged journal), so the
facts drift slowly from their sources. On the 1st of the month, after the month-end close has
started, both are rebuilt from scratch.

The ledger fact feeds the month-end close; the rebuild waits for the ledger's daily build of the last
day of the month so it does not race it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.dbt import dbt_task, model_sensor
from common.defaults import default_args

with DAG(
    dag_id="dbt_facts_monthly_full_refresh",
    description="dbt build --full-refresh of fct_card_authorizations and fct_ledger_entries",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 9 1 * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=8),
    default_args=default_args(owner="data-platform", retries=1, retry_delay=timedelta(hours=1)),
    tags=["dbt", "facts", "monthly", "full-refresh"],
):
    # Trigger-time schedule: ds is the 1st, the month's last day is the day before.
    ledger_closed = model_sensor(task_id="wait_for_last_day_ledger", model="fct_ledger_entries", offset_days=-1)

    cards = dbt_task(
        task_id="rebuild_card_authorizations",
        select="fct_card_authorizations",
        full_refresh=True,
        pool="dbt_warehouse_low_priority",
        execution_timeout=timedelta(hours=4),
    )
    ledger = dbt_task(
        task_id="rebuild_ledger_entries",
        select="fct_ledger_entries",
        full_refresh=True,
        pool="dbt_warehouse_low_priority",
        execution_timeout=timedelta(hours=3),
    )

    ledger_closed >> ledger
