"""dbt, compliance domain: AML features staging and the AML regulatory report.

Builds the staging of lake.aml_features and rpt_regulatory_aml: per customer, the outbound value of
the look-back period, currency transaction report (CTR) and enhanced due diligence triggers, and SAR
candidates for the MLRO's review queue. The transaction-monitoring analysts start at 07:00 US
Eastern; the report must be ready by then.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.alerts import deadline
from common.dbt import dbt_task, model_sensor
from common.defaults import default_args
from common.lake import partition_sensor

with DAG(
    dag_id="dbt_aml_daily",
    description="dbt build: stg_aml_features, rpt_regulatory_aml (daily monitoring output)",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 5 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(
        owner="compliance-data", retries=3, retry_delay=timedelta(minutes=10), severity="critical"
    ),
    deadline=deadline(within=timedelta(hours=5), team="compliance-data", severity="critical"),
    tags=["dbt", "aml", "compliance", "daily", "regulatory"],
):
    features = partition_sensor(task_id="wait_for_aml_features", table="lake.aml_features")
    kyc = model_sensor(task_id="wait_for_kyc_status", model="int_kyc_status_latest")
    transfers = model_sensor(task_id="wait_for_transfers", model="fct_transfers")

    staging = dbt_task(task_id="build_aml_staging", select="stg_aml_features")
    report = dbt_task(task_id="build_aml_report", select="rpt_regulatory_aml", extra_vars={"aml_lookback_days": 30})

    features >> staging
    [staging, kyc, transfers] >> report
