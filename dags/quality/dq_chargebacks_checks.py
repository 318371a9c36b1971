"""Data quality: chargeback fact.

On the chargebacks opened that day: every chargeback links to a payment of the same merchant and
currency, its amount does not exceed the payment's, its reason code maps to a category, and a
resolved chargeback has a resolution time.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.quality import quality_check

with DAG(
    dag_id="dq_chargebacks_checks",
    description="Linkage, amount and reason-code checks on fct_chargebacks for the day",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("30 7 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=True,
    max_active_runs=3,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(owner="payments-data", retries=1, retry_delay=timedelta(minutes=10), severity="low"),
    tags=["quality", "chargebacks", "disputes", "daily"],
):
    built = model_sensor(task_id="wait_for_fct_chargebacks", model="fct_chargebacks")

    checks = quality_check(
        task_id="check_chargebacks",
        table="marts.fct_chargebacks",
        partition_column="opened_date",
        not_null=["payment_id", "merchant_id", "reason_category"],
        accepted_values={"reason_category": ["fraud", "authorization", "processing_error", "consumer_dispute"]},
        non_negative=["hours_to_resolve"],
        expressions={
            "resolved_have_time": "COUNT_IF(chargeback_status IN ('won', 'lost') AND resolved_at IS NULL) = 0",
            "amount_within_payment": (
                "NOT EXISTS (SELECT 1 FROM marts.fct_chargebacks c JOIN marts.fct_payments p ON p.payment_id = c.payment_id "
                "WHERE c.opened_date = '{{ ds }}' AND (c.amount > p.amount OR c.currency_code <> p.currency_code))"
            ),
        },
    )

    built >> checks
