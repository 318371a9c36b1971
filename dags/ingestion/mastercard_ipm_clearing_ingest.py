"""Cards: Mastercard IPM clearing (T112) files into raw.mastercard_clearing.

Mastercard's Global Clearing Management System runs several clearing cycles per day; each delivers a
T112 file through the MFE gateway, which converts it from EBCDIC RDW blocks to JSON lines on arrival.
The business date is complete when the six cycle files and the T140 settlement position file of the
day have landed; the load then replaces the date's rows in one go.

Cycle files for a date can trail into the next morning; the sensors wait up to 14 hours and the
deadline pages cards-data when the date is still incomplete at 20:00 UTC.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.alerts import deadline
from common.defaults import default_args
from common.landing import copy_into_raw, landing_sensor

with DAG(
    dag_id="mastercard_ipm_clearing_ingest",
    description="Mastercard GCMS T112 cycle files + T140 -> raw.mastercard_clearing",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 6 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 3, 4, tz="UTC"),
    catchup=True,
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=16),
    default_args=default_args(owner="cards-data", retries=2, retry_delay=timedelta(minutes=30)),
    deadline=deadline(within=timedelta(hours=14), team="cards-data", severity="critical"),
    tags=["ingestion", "cards", "mastercard", "clearing", "external"],
):
    cycles = landing_sensor(
        task_id="wait_for_all_cycles",
        source="mastercard_gcms",
        pattern="T112_*_{{ ds_nodash }}_C0[1-6].jsonl",
        min_files=6,
        poke_interval=timedelta(minutes=20),
        timeout=timedelta(hours=14),
    )
    position = landing_sensor(
        task_id="wait_for_settlement_position",
        source="mastercard_gcms",
        pattern="T140_*_{{ ds_nodash }}.jsonl",
        timeout=timedelta(hours=14),
    )

    load = copy_into_raw(
        task_id="load_clearing_cycles",
        source="mastercard_gcms",
        dataset="mastercard_clearing",
        file_format="json_lines",
        pattern=".*T1(12|40)_.*[.]jsonl",
    )

    [cycles, position] >> load
