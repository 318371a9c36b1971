"""Data quality: arithmetic and consistency of the payments fact.

dbt's schema tests cover keys and accepted values of fct_payments; these checks cover what schema
tests cannot express, on the day's payments:

* amount_usd is amount converted at fx_rate_to_usd (to the cent);
* USD payments have a rate of exactly 1;
* a successful payment is not failed, and a refunded one was successful;
* cross-border means the payment country differs from the account's country (sampled via the flag's
  share, which is stable around 8% for our customer base).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.quality import quality_check

with DAG(
    dag_id="dq_payments_marts_checks",
    description="Conversion arithmetic and status consistency of fct_payments for the day",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("30 6 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=True,
    max_active_runs=4,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(owner="payments-data", retries=1, retry_delay=timedelta(minutes=10), severity="low"),
    tags=["quality", "payments", "marts", "daily"],
):
    built = model_sensor(task_id="wait_for_fct_payments", model="fct_payments")

    arithmetic = quality_check(
        task_id="check_conversion",
        table="marts.fct_payments",
        partition_column="payment_date",
        not_null=["amount_usd", "fx_rate_to_usd"],
        expressions={
            "usd_amount_converted": "COUNT_IF(ABS(amount * fx_rate_to_usd - amount_usd) > 0.01) = 0",
            "usd_rate_is_one": "COUNT_IF(currency_code = 'USD' AND fx_rate_to_usd <> 1) = 0",
        },
    )
    statuses = quality_check(
        task_id="check_status_flags",
        table="marts.fct_payments",
        partition_column="payment_date",
        expressions={
            "successful_not_failed": "COUNT_IF(is_successful AND status = 'failed') = 0",
            "refunded_was_successful": "COUNT_IF(is_refunded AND NOT is_successful) = 0",
            "cross_border_share_stable": "COUNT_IF(is_cross_border) BETWEEN 0.02 * COUNT(*) AND 0.20 * COUNT(*)",
        },
    )

    built >> [arithmetic, statuses]
