"""Merchants: re-enrichment after the monthly MCC reference refresh.

When the MCC list or compliance's risk classes change (mcc_reference_refresh, on the 2nd), merchants
enriched during the month may carry an outdated risk tier. On the 4th, `merchant_enrichment` is
re-run for the last day of the month that ended; the job derives every merchant's tier from the
reference in force when it runs, so the month-end merchant snapshot used by the chargeback
monitoring reports gets the current classes.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.quality import quality_check
from common.spark import spark_task

with DAG(
    dag_id="merchant_enrichment_mcc_refresh",
    description="Re-classify all merchants of the month-end snapshot with the refreshed MCC list",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 8 4 * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 4, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(owner="cards-data", retries=2, retry_delay=timedelta(minutes=30), severity="low"),
    tags=["spark", "merchants", "monthly", "reference-data"],
):
    reclassify = spark_task(
        task_id="reclassify_merchants",
        job="merchant_enrichment",
        grain="monthly",
        executor_memory="6g",
    )

    classified = quality_check(
        task_id="check_every_merchant_classified",
        table="lake.merchants",
        grain="monthly",
        where="ds = '{{ data_interval_start.end_of('month') | ds }}'",
        expressions={"risk_tier_set": "COUNT_IF(risk_tier IS NULL) = 0"},
    )

    reclassify >> classified
