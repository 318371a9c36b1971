"""Reconciliation: our chargebacks against the acquirers' dispute reports.

Every chargeback the primary acquirer debits us for must exist in lake.chargebacks (otherwise we
cannot respond to it within the scheme's time limit), and every chargeback we recorded must appear in
the acquirer's report. Compared per network and currency on count and amount, on the acquirer's report
date. (The secondary acquirer's XML report is matched case by case in its dispute portal.)
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.lake import partition_sensor
from common.reconciliation import reconciliation_check

with DAG(
    dag_id="recon_chargebacks_vs_acquirer",
    description="lake.chargebacks vs raw.acquirer_chargebacks, per network and currency",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 11 * * *", timezone="Europe/London"),
    start_date=pendulum.datetime(2024, 4, 2, tz="Europe/London"),
    catchup=True,
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(owner="payments-data", retries=2, retry_delay=timedelta(minutes=15)),
    tags=["reconciliation", "chargebacks", "disputes", "acquirer"],
):
    ours = partition_sensor(task_id="wait_for_chargebacks", table="lake.chargebacks")

    counts = reconciliation_check(
        task_id="chargeback_counts",
        left={
            "table": "lake.chargebacks",
            "date_column": "ds",
            "keys": {"network": "network", "currency_code": "currency"},
            "measure": "COUNT(*)",
            "where": "status = 'opened'",
        },
        right={
            "table": "raw.acquirer_chargebacks",
            "date_column": "load_ds",
            "keys": {"network": "LOWER(record:card_scheme::string)", "currency_code": "record:currency::string"},
            "measure": "COUNT(*)",
            "where": "record:dispute_stage::string = 'CHARGEBACK'",
        },
    )
    amounts = reconciliation_check(
        task_id="chargeback_amounts",
        left={
            "table": "lake.chargebacks",
            "date_column": "ds",
            "keys": {"network": "network", "currency_code": "currency"},
            "measure": "SUM(amount_minor) / 100.0",
            "where": "status = 'opened'",
        },
        right={
            "table": "raw.acquirer_chargebacks",
            "date_column": "load_ds",
            "keys": {"network": "LOWER(record:card_scheme::string)", "currency_code": "record:currency::string"},
            "measure": "SUM(record:dispute_amount::number(18, 2))",
            "where": "record:dispute_stage::string = 'CHARGEBACK'",
        },
        tolerance=0.01,
    )

    ours >> counts >> amounts
