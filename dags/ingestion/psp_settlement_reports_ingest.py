"""Payments: acquirer settlement reports (per-batch payouts, fees, reserves) into raw.psp_settlements.

Each acquirer pays out the net of the card payments it settled for us, minus interchange, scheme fees
and its own fees, plus or minus reserve movements. The settlement detail report itemises that payout
per transaction; the summary gives the payout per currency. recon_psp_settlement_reports checks them
against lake.settlements (what we expected to be paid) and the bank statements (what arrived).

The detail report is large (one row per transaction) and arrives a few hours after the summary.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.landing import copy_into_raw, landing_sensor
from common.quality import quality_check

with DAG(
    dag_id="psp_settlement_reports_ingest",
    description="Acquirer settlement summary and detail reports -> raw.psp_settlements(_detail)",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=True,
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=10),
    default_args=default_args(owner="ledger-data", retries=3, retry_delay=timedelta(minutes=20)),
    tags=["ingestion", "settlements", "acquirer", "external"],
):
    summary = landing_sensor(
        task_id="wait_for_payout_summary", source="psp_settlements", pattern="settlement_summary_*.csv"
    )
    detail = landing_sensor(
        task_id="wait_for_settlement_detail",
        source="psp_settlements",
        pattern="settlement_detail_*.csv.gz",
        timeout=timedelta(hours=9),
    )

    load_summary = copy_into_raw(
        task_id="load_payout_summary",
        source="psp_settlements",
        dataset="psp_settlements",
        file_format="json_lines",
        pattern=".*settlement_summary_.*[.]csv",
    )
    load_detail = copy_into_raw(
        task_id="load_settlement_detail",
        source="psp_settlements",
        dataset="psp_settlements_detail",
        file_format="json_lines_gzip",
        pattern=".*settlement_detail_.*[.]csv[.]gz",
    )

    detail_sums_to_summary = quality_check(
        task_id="check_detail_sums_to_payout",
        table="raw.psp_settlements",
        partition_column="load_ds",
        expressions={
            "detail_matches_summary": (
                "ABS(SUM(record:net_payout::number(18,2)) - (SELECT SUM(d.record:net::number(18,2)) "
                "FROM raw.psp_settlements_detail d WHERE d.load_ds = '{{ ds }}')) < 0.01"
            ),
        },
    )

    summary >> load_summary
    detail >> load_detail
    [load_summary, load_detail] >> detail_sums_to_summary
