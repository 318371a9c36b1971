"""Merchants: daily merchant enrichment (lake.merchants).

`merchant_enrichment` derives the merchant dimension from the day's clean payments: normalised names,
MCC, the risk tier that compliance assigns from the MCC and the chargeback history, country and
settlement currency. The merchant
dimension is a full snapshot per day, so a run needs the previous day's snapshot as well.
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
    dag_id="merchant_enrichment_daily",
    description="lake.payments_clean -> lake.merchants (daily snapshot)",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(
        owner="payments-data", retries=2, retry_delay=timedelta(minutes=10), depends_on_past=True
    ),
    tags=["spark", "merchants", "daily"],
):
    payments = partition_sensor(task_id="wait_for_payments_clean", table="lake.payments_clean")

    enrich = spark_task(task_id="enrich_merchants", job="merchant_enrichment", executor_memory="6g", max_executors=20)

    checks = quality_check(
        task_id="check_merchants",
        table="lake.merchants",
        min_rows=5_000,
        not_null=["merchant_id", "merchant_name", "mcc", "country_code", "risk_tier", "settlement_currency"],
        unique=["merchant_id"],
        accepted_values={"risk_tier": ["standard", "elevated", "high"]},
        expressions={"mcc_is_four_digits": "COUNT_IF(LENGTH(mcc) <> 4) = 0"},
    )

    payments >> enrich >> checks
