"""dbt, compliance domain: KYC staging and the latest KYC status per customer.

int_kyc_status_latest decides, per customer, the KYC status in force (the latest decisive event) and
the due-diligence level; dim_customers, dim_accounts and the customer risk scores read it. Built after
the day's KYC events are in the lake, twice a day: the morning build for the overnight events and a
midday build, because manual review decisions cluster in the morning and the account restrictions
service reads the status at 14:00.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, MultipleCronTriggerTimetable

from common.dbt import dbt_task
from common.defaults import default_args
from common.lake import partition_sensor

with DAG(
    dag_id="dbt_kyc_daily",
    description="dbt build: stg_kyc_events -> int_kyc_status_latest, 03:30 and 13:00 UTC",
    doc_md=__doc__,
    schedule=MultipleCronTriggerTimetable("30 3 * * *", "0 13 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(owner="compliance-data", retries=2, retry_delay=timedelta(minutes=10)),
    tags=["dbt", "kyc", "compliance", "twice-daily"],
):
    # Both runs of a day read the previous day's committed partition plus the live view of today.
    events = partition_sensor(task_id="wait_for_kyc_events", table="lake.kyc_events", offset_days=-1)
    build = dbt_task(
        task_id="build_kyc_status",
        select="stg_kyc_events int_kyc_status_latest",
        run_date="{{ macros.ds_add(ds, -1) }}",
    )
    events >> build
