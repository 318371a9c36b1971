"""Disputes: daily chargebacks from the payments lifecycle (lake.chargebacks).

`chargeback_ingest` picks the chargeback, representment and arbitration events out of the clean
payments and links each to the original payment, which may be up to 120 days old (the schemes'
dispute window).

Every chargeback of the day must link to a payment of the last 120 days; an unlinked one is a data
defect that card operations investigate before the dispute deadline.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.lake import partition_sensor
from common.quality import quality_check
from common.spark import spark_task

with DAG(
    dag_id="chargeback_ingest_daily",
    description="lake.payments_clean (120-day window) -> lake.chargebacks",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("10 3 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=True,
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(owner="payments-data", retries=2, retry_delay=timedelta(minutes=10)),
    tags=["spark", "chargebacks", "disputes", "daily"],
):
    payments = partition_sensor(task_id="wait_for_payments_clean", table="lake.payments_clean")

    ingest = spark_task(
        task_id="extract_chargebacks",
        job="chargeback_ingest",
        executor_memory="10g",
        max_executors=40,
    )

    linked = quality_check(
        task_id="check_chargebacks_linked",
        table="lake.chargebacks",
        not_null=["chargeback_id", "payment_id", "network", "reason_code", "status", "amount_minor", "currency"],
        unique=["chargeback_id"],
        accepted_values={"network": ["visa", "mastercard"], "status": ["opened", "under_review", "won", "lost"]},
        non_negative=["amount_minor"],
        expressions={
            "linked_to_a_payment": (
                "COUNT_IF(payment_id NOT IN (SELECT p.payment_id FROM lake.payments_clean p "
                "WHERE p.ds BETWEEN '{{ macros.ds_add(ds, -120) }}' AND '{{ ds }}')) = 0"
            ),
        },
    )

    payments >> ingest >> linked
