"""Reconciliation: our expected settlements against the acquirers' settlement reports.

lake.settlements is what we computed each acquirer owes us per settlement (gross, fees, net in minor
units); the acquirers' own settlement summary (raw.psp_settlements) is what they say they pay. They
are compared per currency on net amount and, separately, on fees: a fee difference usually means a
fee schedule change that finance has not loaded yet (interchange_fee_schedule_refresh).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.lake import partition_sensor
from common.reconciliation import reconciliation_check

with DAG(
    dag_id="recon_psp_settlement_reports",
    description="lake.settlements vs raw.psp_settlements, net and fees per currency",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 13 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=True,
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=6),
    default_args=default_args(owner="ledger-data", retries=2, retry_delay=timedelta(minutes=20)),
    tags=["reconciliation", "settlements", "acquirer", "daily"],
):
    ours = partition_sensor(task_id="wait_for_settlements", table="lake.settlements")

    net = reconciliation_check(
        task_id="net_payout_vs_report",
        left={
            "table": "lake.settlements",
            "date_column": "ds",
            "keys": {"currency_code": "currency"},
            "measure": "SUM(net_amount_minor) / 100.0",
        },
        right={
            "table": "raw.psp_settlements",
            "date_column": "load_ds",
            "keys": {"currency_code": "record:currency::string"},
            "measure": "SUM(record:net_payout::number(18, 2))",
        },
        tolerance=0.05,
    )
    fees = reconciliation_check(
        task_id="fees_vs_report",
        left={
            "table": "lake.settlements",
            "date_column": "ds",
            "keys": {"currency_code": "currency"},
            "measure": "SUM(fee_amount_minor) / 100.0",
        },
        right={
            "table": "raw.psp_settlements",
            "date_column": "load_ds",
            "keys": {"currency_code": "record:currency::string"},
            "measure": "SUM(record:total_fees::number(18, 2))",
        },
        tolerance_ratio=0.001,
        max_breaks=2,
    )

    ours >> [net, fees]
