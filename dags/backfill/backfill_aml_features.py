"""Backfill: rebuild AML features and the AML report for a regulator's look-back request.

When a regulator or an internal investigation asks for transaction monitoring to be re-run over a
past period with corrected scenarios, the features are recomputed day by day and the AML report is
rebuilt for each day of the range. Up to 13 months, which is what look-back reviews cover; the run
is slow (hours per month) and runs on the low-priority pool.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from common.backfill import check_range, range_params
from common.dbt import dbt_task
from common.defaults import default_args
from common.spark import spark_task

with DAG(
    dag_id="backfill_aml_features",
    description="Recompute aml_features and rebuild rpt_regulatory_aml for start_date..end_date",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=range_params(max_days=400),
    default_args=default_args(owner="compliance-data", retries=2, retry_delay=timedelta(minutes=30)),
    tags=["backfill", "aml", "compliance", "lookback", "manual"],
):
    guard = check_range(task_id="check_range", max_days=400)
    features = spark_task(
        task_id="recompute_features",
        job="aml_features",
        grain="range",
        executor_memory="14g",
        pool="emr_batch_low_priority",
        execution_timeout=timedelta(days=3),
    )
    report = dbt_task(
        task_id="rebuild_aml_report",
        select="stg_aml_features int_account_risk_inputs rpt_regulatory_aml",
        grain="range",
        pool="dbt_warehouse_low_priority",
        execution_timeout=timedelta(days=1),
    )
    guard >> features >> report
