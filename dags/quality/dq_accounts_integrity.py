"""Data quality: the account dimension.

One row per account; a closed account has a closing time and a zero balance (the closure process
sweeps the balance out first); a frozen account is not active; balances are as of the day being
checked; accounts of a sanctioned country are never active.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.quality import quality_check

with DAG(
    dag_id="dq_accounts_integrity",
    description="Closure, freeze, balance-date and sanctioned-country checks on dim_accounts",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("45 6 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(owner="customer-data", retries=1, retry_delay=timedelta(minutes=10)),
    tags=["quality", "accounts", "customers", "daily"],
):
    built = model_sensor(task_id="wait_for_dim_accounts", model="dim_accounts")

    checks = quality_check(
        task_id="check_accounts",
        table="marts.dim_accounts",
        partition_column=None,
        unique=["account_id"],
        accepted_values={"account_status": ["active", "frozen", "closed"]},
        expressions={
            "closed_have_closed_at": "COUNT_IF(account_status = 'closed' AND closed_at IS NULL) = 0",
            "closed_have_zero_balance": "COUNT_IF(account_status = 'closed' AND current_balance <> 0) = 0",
            "frozen_not_active": "COUNT_IF(account_status = 'frozen' AND is_active) = 0",
            "balances_current": "COUNT_IF(balance_as_of_date < '{{ ds }}') <= 0.001 * COUNT(*)",
        },
    )

    built >> checks
