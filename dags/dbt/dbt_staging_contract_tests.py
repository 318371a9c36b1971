"""dbt: source contract tests on every staging model, four times a day.

Staging models are views over the lake's external tables, so testing them tests the data that the
Spark jobs wrote against the contract the analytics layer relies on (types, keys, accepted values).
Running only `dbt test` on staging every six hours catches a broken upstream partition hours before
the marts are built from it, without building anything.

Tests run against whatever the lake holds at the time; the run date is passed for tests that
restrict themselves to the latest partition.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.dbt import dbt_task
from common.defaults import default_args

with DAG(
    dag_id="dbt_staging_contract_tests",
    description="dbt test of the 13 staging models (source contracts), every six hours",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("20 */6 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 4, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    default_args=default_args(owner="data-platform", retries=1, retry_delay=timedelta(minutes=5), severity="low"),
    tags=["dbt", "tests", "contracts", "staging"],
):
    dbt_task(
        task_id="test_staging_models",
        select=(
            "stg_payments stg_card_authorizations stg_card_fraud_scores stg_transfers stg_ledger_entries "
            "stg_kyc_events stg_fx_rates stg_accounts stg_merchants stg_chargebacks stg_aml_features "
            "stg_settlements stg_customer_features"
        ),
        command="test",
        fail_fast=False,
        threads=8,
        pool="dbt_warehouse_low_priority",
    )
