"""Reconciliation: completed transfers against the ledger's transfer postings.

Outbound and internal transfers move money out of customer deposits (GL 2010); transfer fees are
revenue (GL 4020). Per currency and day, the completed transfers' amounts must equal the ledger's
transfer debits on GL 2010, and their fees the credits on GL 4020. Returned transfers are reversed in
the ledger by a `transfer_return` posting and are excluded on both sides.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.reconciliation import reconciliation_check

with DAG(
    dag_id="recon_transfers_vs_ledger",
    description="fct_transfers (completed) vs fct_ledger_entries, amounts on GL 2010 and fees on GL 4020",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("45 5 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=True,
    max_active_runs=3,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(owner="ledger-data", retries=2, retry_delay=timedelta(minutes=10)),
    tags=["reconciliation", "transfers", "ledger", "daily", "sox"],
):
    ready = [
        model_sensor(task_id="wait_for_fct_transfers", model="fct_transfers"),
        model_sensor(task_id="wait_for_fct_ledger_entries", model="fct_ledger_entries"),
    ]

    amounts = reconciliation_check(
        task_id="transfer_amounts_vs_deposits",
        left={
            "table": "marts.fct_transfers",
            "date_column": "initiated_date",
            "keys": {"currency_code": "currency_code"},
            "measure": "SUM(amount)",
            "where": "status = 'completed'",
        },
        right={
            "table": "marts.fct_ledger_entries",
            "date_column": "effective_date",
            "keys": {"currency_code": "currency_code"},
            "measure": "SUM(debit_amount)",
            "where": "source_type = 'transfer' AND gl_account_code = '2010'",
        },
    )
    fees = reconciliation_check(
        task_id="transfer_fees_vs_revenue",
        left={
            "table": "marts.fct_transfers",
            "date_column": "initiated_date",
            "keys": {"currency_code": "currency_code"},
            "measure": "SUM(fee_amount)",
            "where": "status = 'completed' AND fee_amount > 0",
        },
        right={
            "table": "marts.fct_ledger_entries",
            "date_column": "effective_date",
            "keys": {"currency_code": "currency_code"},
            "measure": "SUM(credit_amount)",
            "where": "source_type = 'transfer' AND gl_account_code = '4020'",
        },
        tolerance=0.01,
    )

    ready >> amounts
    ready >> fees
