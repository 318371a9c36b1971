"""Data quality: nightly `dbt test` of every mart.

`dbt build` already runs each model's tests when a domain DAG builds it; this nightly run tests all
marts together after the morning chain, which also runs the relationship tests between marts that
belong to different domains (a payment's merchant in dim_merchants, an alert's customer in
dim_customers) and therefore are not run by any single domain's build.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import dbt_task, model_sensor
from common.defaults import default_args

with DAG(
    dag_id="dq_marts_dbt_tests",
    description="dbt test of the 16 marts, after the morning chain",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 9 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 3, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(owner="data-platform", retries=1, retry_delay=timedelta(minutes=15)),
    tags=["quality", "dbt", "tests", "marts", "daily"],
):
    last_in_chain = model_sensor(task_id="wait_for_risk_scores", model="rpt_customer_risk_scores")

    facts = dbt_task(
        task_id="test_facts",
        select=(
            "fct_payments fct_card_authorizations fct_transfers fct_ledger_entries fct_settlements "
            "fct_chargebacks fct_fraud_alerts"
        ),
        command="test",
        fail_fast=False,
    )
    dimensions_and_reports = dbt_task(
        task_id="test_dimensions_and_reports",
        select=(
            "dim_accounts dim_merchants dim_customers dim_currencies rpt_daily_revenue rpt_regulatory_aml "
            "rpt_reconciliation_breaks rpt_customer_risk_scores"
        ),
        command="test",
        fail_fast=False,
    )

    last_in_chain >> [facts, dimensions_and_reports]
