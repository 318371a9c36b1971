"""Settlements: daily settlement batches (lake.settlements).

`settlement_batches` groups the day's captured card payments into the batches the acquirers settle,
computes, per payment, the expected settlement (gross, fees, net, in minor units) and matches the
ledger's settlement postings by processor reference. The expected payouts are what
recon_psp_settlement_reports compares with the acquirers' own reports.
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
    dag_id="settlement_batches_daily",
    description="lake.payments_clean + lake.ledger_entries -> lake.settlements",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("40 3 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=True,
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(owner="ledger-data", retries=3, retry_delay=timedelta(minutes=10)),
    tags=["spark", "settlements", "ledger", "daily"],
):
    payments = partition_sensor(task_id="wait_for_payments_clean", table="lake.payments_clean")
    ledger = partition_sensor(task_id="wait_for_ledger_entries", table="lake.ledger_entries")

    batches = spark_task(
        task_id="build_settlement_batches", job="settlement_batches", executor_memory="8g", max_executors=30
    )

    checks = quality_check(
        task_id="check_settlements",
        table="lake.settlements",
        not_null=[
            "settlement_id",
            "settlement_batch_id",
            "payment_id",
            "currency",
            "gross_amount_minor",
            "net_amount_minor",
        ],
        unique=["settlement_id"],
        non_negative=["gross_amount_minor", "fee_amount_minor"],
        expressions={
            "net_is_gross_minus_fees": "COUNT_IF(gross_amount_minor - fee_amount_minor <> net_amount_minor) = 0",
            "one_settlement_per_payment": "COUNT(DISTINCT payment_id) = COUNT(*)",
        },
    )

    [payments, ledger] >> batches >> checks
