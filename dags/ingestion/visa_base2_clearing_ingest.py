"""Cards: Visa BASE II incoming clearing files into raw.visa_clearing.

Visa delivers the incoming interchange (TC05 sales drafts, TC06 credits, TC15/16 chargebacks and
representments) once per processing day, Monday to Saturday, through our Visa Edit Package gateway,
which drops the CTF file and the VSS settlement reports into the `visa_base2` landing folder.

The clearing records are loaded as soon as the CTF file is there (recon_card_clearing_vs_authorizations
compares them with our authorizations); the VSS-110 settlement summary is loaded once both files have
arrived, because treasury checks its net settlement amount against the CTF file's totals.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.alerts import deadline
from common.defaults import default_args
from common.landing import copy_into_raw, landing_sensor

with DAG(
    dag_id="visa_base2_clearing_ingest",
    description="Visa BASE II CTF + VSS reports -> raw.visa_clearing, raw.visa_settlement_reports",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 6 * * 1-6", timezone="UTC"),
    start_date=pendulum.datetime(2024, 3, 4, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=8),
    default_args=default_args(owner="cards-data", retries=2, retry_delay=timedelta(minutes=20)),
    deadline=deadline(within=timedelta(hours=6), team="cards-data"),
    tags=["ingestion", "cards", "visa", "clearing", "external"],
):
    ctf = landing_sensor(task_id="wait_for_ctf_file", source="visa_base2", pattern="VISA_IN_CTF_*.dat")
    vss = landing_sensor(task_id="wait_for_vss_110", source="visa_base2", pattern="VSS110_*.txt")

    load_clearing = copy_into_raw(
        task_id="load_clearing_records",
        source="visa_base2",
        dataset="visa_clearing",
        file_format="json_lines",
        pattern=".*VISA_IN_CTF_.*",
    )
    load_settlement = copy_into_raw(
        task_id="load_settlement_reports",
        source="visa_base2",
        dataset="visa_settlement_reports",
        file_format="json_lines",
        pattern=".*VSS110_.*",
    )

    ctf >> load_clearing
    [ctf, vss] >> load_settlement
