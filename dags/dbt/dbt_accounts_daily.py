"""dbt, customers domain: account staging, risk inputs and the account dimension.

dim_accounts carries each account's status, its current ledger balance (from int_ledger_balances_daily)
and its risk inputs (country risk, KYC status, AML features). It therefore waits for three things:
the account snapshot in the lake, and the ledger balances and AML features of the day, built by their
own domains' DAGs.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import dbt_task, model_sensor
from common.defaults import default_args
from common.lake import partition_sensor

with DAG(
    dag_id="dbt_accounts_daily",
    description="dbt build: stg_accounts, int_account_risk_inputs -> dim_accounts",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("15 4 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(owner="customer-data", retries=2, retry_delay=timedelta(minutes=10)),
    tags=["dbt", "accounts", "customers", "daily"],
):
    snapshot = partition_sensor(task_id="wait_for_accounts_snapshot", table="lake.accounts_snapshot")
    balances = model_sensor(task_id="wait_for_ledger_balances", model="int_ledger_balances_daily")
    aml = model_sensor(task_id="wait_for_aml_staging", model="stg_aml_features")

    build = dbt_task(task_id="build_accounts", select="stg_accounts int_account_risk_inputs dim_accounts")

    [snapshot, balances, aml] >> build
