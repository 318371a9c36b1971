"""Reconciliation: captured and settled payments against the ledger's payment postings.

Every captured card or wallet payment debits the customer's deposit account (GL 2010) in the ledger.
Per currency and business day, the payments fact and the ledger's payment postings on GL 2010 must
agree to the cent; a difference means a payment that was never posted, posted twice, or posted in the
wrong currency. Breaks go to recon.breaks and the finance operations queue.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.reconciliation import reconciliation_check

with DAG(
    dag_id="recon_payments_vs_ledger",
    description="fct_payments (captured/settled) vs fct_ledger_entries on GL 2010, per currency and day",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("30 5 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=True,
    max_active_runs=3,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(owner="ledger-data", retries=2, retry_delay=timedelta(minutes=10)),
    tags=["reconciliation", "payments", "ledger", "daily", "sox"],
):
    payments = model_sensor(task_id="wait_for_fct_payments", model="fct_payments")
    ledger = model_sensor(task_id="wait_for_fct_ledger_entries", model="fct_ledger_entries")

    recon = reconciliation_check(
        task_id="payments_vs_ledger",
        left={
            "table": "marts.fct_payments",
            "date_column": "payment_date",
            "keys": {"currency_code": "currency_code"},
            "measure": "SUM(amount)",
            "where": "status IN ('captured', 'settled', 'refunded')",
        },
        right={
            "table": "marts.fct_ledger_entries",
            "date_column": "effective_date",
            "keys": {"currency_code": "currency_code"},
            "measure": "SUM(debit_amount)",
            "where": "source_type = 'payment' AND gl_account_code = '2010'",
        },
        tolerance=0.005,
    )

    [payments, ledger] >> recon
