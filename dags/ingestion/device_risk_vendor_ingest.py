"""Risk: hourly device-intelligence exports from the device fingerprinting vendor.

The vendor scores every login and payment session (emulator, remote access tool, proxy, device age)
and exports the sessions hourly. Fraud analysts join them with fct_fraud_alerts when they review a
case, and the scores are candidate features of the next card fraud model.

Hourly, at 20 past: the export of an hour lands within 15 minutes of the hour's end. Exports are
best-effort from the vendor, so a missing hour soft-fails and the gap shows in dq_lake_freshness.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.landing import copy_into_raw, landing_sensor

with DAG(
    dag_id="device_risk_vendor_ingest",
    description="Hourly device-intelligence session exports -> raw.device_sessions",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("20 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 9, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    dagrun_timeout=timedelta(minutes=55),
    default_args=default_args(
        owner="risk-data",
        retries=2,
        retry_delay=timedelta(minutes=3),
        execution_timeout=timedelta(minutes=20),
        severity="low",
    ),
    tags=["ingestion", "fraud", "vendor", "hourly", "external"],
):
    export = landing_sensor(
        task_id="wait_for_hourly_export",
        source="device_risk",
        pattern="sessions_{{ data_interval_start.strftime('%Y%m%dT%H') }}*.parquet",
        poke_interval=timedelta(minutes=5),
        timeout=timedelta(minutes=40),
        soft_fail=True,
    )
    load = copy_into_raw(
        task_id="load_device_sessions",
        source="device_risk",
        dataset="device_sessions",
        file_format="parquet",
        pattern=".*sessions_{{ data_interval_start.strftime('%Y%m%dT%H') }}.*[.]parquet",
        grain="hourly",
    )

    export >> load
