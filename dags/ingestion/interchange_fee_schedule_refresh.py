"""Cards: interchange and scheme fee schedules, at the schemes' April and October releases.

Visa and Mastercard change interchange and scheme fees at their spring and autumn business releases.
Finance receives the new schedules from the acquirer ahead of the effective date and uploads them
through the finance upload form, which files them under the effective date (not the upload date);
they are loaded with the effective date as business date, which the monthly scheme-fee
reconciliation uses to price each transaction at the fee in force.

Finance only uploads once the acquirer has confirmed that the schedule is final, which can be a few
days after the effective date: the sensors wait up to five days and alert at low severity only.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.defaults import default_args
from common.landing import copy_into_raw, landing_sensor

with DAG(
    dag_id="interchange_fee_schedule_refresh",
    description="Interchange and scheme fee schedules, effective at the April/October releases",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 6 1 4,10 *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 4, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(days=6),
    default_args=default_args(owner="finance-reporting", retries=1, retry_delay=timedelta(hours=6), severity="low"),
    tags=["ingestion", "cards", "fees", "reference-data", "semiannual"],
):
    visa = landing_sensor(
        task_id="wait_for_visa_schedule",
        source="fee_schedules",
        pattern="visa_interchange_{{ ds_nodash }}.csv",
        poke_interval=timedelta(hours=2),
        timeout=timedelta(days=5),
    )
    mastercard = landing_sensor(
        task_id="wait_for_mastercard_schedule",
        source="fee_schedules",
        pattern="mastercard_interchange_{{ ds_nodash }}.csv",
        poke_interval=timedelta(hours=2),
        timeout=timedelta(days=5),
    )
    load = copy_into_raw(
        task_id="load_fee_schedules",
        source="fee_schedules",
        dataset="interchange_fee_schedules",
        file_format="json_lines",
        pattern=".*_interchange_.*[.]csv",
    )

    [visa, mastercard] >> load
