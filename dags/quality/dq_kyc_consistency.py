"""Data quality: KYC status consistent with what customers can do.

A customer whose KYC was rejected or expired must not have an active account, and a customer who is
not verified must not have made payments after onboarding. These are control failures (the account
restriction service missed an event), not data errors, and go to compliance operations.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.quality import quality_check

with DAG(
    dag_id="dq_kyc_consistency",
    description="No active accounts or payments for customers whose KYC is rejected or expired",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 8 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 3, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(owner="compliance-data", retries=1, retry_delay=timedelta(minutes=15)),
    tags=["quality", "kyc", "compliance", "controls", "daily"],
):
    customers = model_sensor(task_id="wait_for_dim_customers", model="dim_customers")
    accounts = model_sensor(task_id="wait_for_dim_accounts", model="dim_accounts")

    restrictions = quality_check(
        task_id="check_restrictions_applied",
        table="marts.dim_accounts",
        partition_column=None,
        expressions={
            "no_active_account_when_rejected": "COUNT_IF(is_active AND kyc_status IN ('rejected', 'expired')) = 0",
        },
    )
    payments = quality_check(
        task_id="check_no_unverified_spend",
        table="marts.dim_customers",
        partition_column=None,
        expressions={
            "unverified_customers_do_not_pay": "COUNT_IF(NOT is_kyc_verified AND payments_count > 0 AND kyc_status = 'rejected') = 0",
            "verified_have_level": "COUNT_IF(is_kyc_verified AND kyc_level IS NULL) = 0",
        },
    )

    customers >> payments
    accounts >> restrictions
