"""Reconciliation: the daily trial balance.

Three invariants of double-entry bookkeeping, checked on the day's ledger:

1. every journal balances (debits = credits) in every currency;
2. the day's total debits equal total credits per currency across the ledger;
3. the accounting equation holds on the closing balances: assets = liabilities + equity + (revenue -
   expenses), per currency.

The trial balance is a SOX key control: its result is stored per day in finance.trial_balance for the
auditors, whether it passes or not, before the check decides the run.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.quality import quality_check
from common.sql import sql_task

with DAG(
    dag_id="recon_ledger_trial_balance",
    description="Journals balance, daily debits = credits, assets = liabilities + equity + P&L",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("15 5 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2023, 10, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(
        owner="ledger-data", retries=2, retry_delay=timedelta(minutes=10), depends_on_past=True, severity="critical"
    ),
    tags=["reconciliation", "ledger", "trial-balance", "sox", "daily"],
):
    balances = model_sensor(task_id="wait_for_daily_balances", model="int_ledger_balances_daily")

    record = sql_task(
        task_id="record_trial_balance",
        sql=[
            "DELETE FROM finance.trial_balance WHERE balance_date = '{{ ds }}'",
            "INSERT INTO finance.trial_balance (balance_date, currency_code, account_class, debit_total, credit_total, closing_balance)\n"
            "SELECT balance_date, currency_code, account_class, SUM(debit_total), SUM(credit_total), SUM(closing_balance)\n"
            "FROM intermediate.int_ledger_balances_daily WHERE balance_date = '{{ ds }}'\n"
            "GROUP BY balance_date, currency_code, account_class",
        ],
    )

    journals = quality_check(
        task_id="check_journals_balance",
        table="marts.fct_ledger_entries",
        partition_column="effective_date",
        expressions={
            "every_journal_balances": (
                "NOT EXISTS (SELECT 1 FROM marts.fct_ledger_entries j WHERE j.effective_date = '{{ ds }}' "
                "GROUP BY j.journal_id, j.currency_code HAVING SUM(j.debit_amount) <> SUM(j.credit_amount))"
            ),
        },
    )
    equation = quality_check(
        task_id="check_accounting_equation",
        table="finance.trial_balance",
        partition_column="balance_date",
        min_rows=1,
        expressions={
            "debits_equal_credits_per_currency": (
                "NOT EXISTS (SELECT 1 FROM finance.trial_balance t WHERE t.balance_date = '{{ ds }}' "
                "GROUP BY t.currency_code HAVING SUM(t.debit_total) <> SUM(t.credit_total))"
            ),
            "assets_equal_claims_per_currency": (
                "NOT EXISTS (SELECT 1 FROM finance.trial_balance t WHERE t.balance_date = '{{ ds }}' "
                "GROUP BY t.currency_code HAVING "
                "SUM(CASE WHEN t.account_class = 'asset' THEN t.closing_balance ELSE 0 END) <> "
                "SUM(CASE WHEN t.account_class IN ('liability', 'equity', 'revenue') THEN t.closing_balance "
                "WHEN t.account_class = 'expense' THEN -t.closing_balance ELSE 0 END))"
            ),
        },
    )

    balances >> record >> [journals, equation]
