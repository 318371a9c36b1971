"""Reconciliation: daily safeguarding of customer funds (UK e-money entity).

The safeguarding rules require, every business day, that the funds held in the designated
safeguarding accounts cover what the firm owes its e-money customers as at the previous day's close,
and that any shortfall is topped up the same day. Two reconciliations:

* internal: customer deposits (GL 2010, the liability) against the safeguarding cash the ledger holds
  (GL 1020), per currency; any difference is a break (a shortfall is topped up the same day, an
  excess is withdrawn or explained);
* external: the ledger's safeguarding cash (GL 1020) against the closing booked balances (CLBD) in
  the banks' camt.053 statements.

The result must be known by 10:00 London time: the DAG pages treasury-data if it is late, and any
break is an incident for the safeguarding officer.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.alerts import deadline
from common.dbt import model_sensor
from common.defaults import default_args
from common.landing import landing_sensor
from common.reconciliation import reconciliation_check

with DAG(
    dag_id="recon_safeguarding_daily",
    description="GL 2010 vs GL 1020, and GL 1020 vs bank closing balances, per currency, UK business days",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 8 * * 1-5", timezone="Europe/London"),
    start_date=pendulum.datetime(2024, 1, 2, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(owner="treasury-data", retries=3, retry_delay=timedelta(minutes=5), severity="critical"),
    deadline=deadline(within=timedelta(hours=2), team="treasury-data", severity="critical"),
    tags=["reconciliation", "safeguarding", "treasury", "regulatory", "daily"],
):
    # Trigger-time schedule: ds is the reconciliation day. The balances are the previous day's close;
    # the statements of that close were delivered today, under today's date.
    balances = model_sensor(task_id="wait_for_ledger_balances", model="int_ledger_balances_daily", offset_days=-1)
    statements = landing_sensor(
        task_id="wait_for_bank_statements",
        source="safeguarding_bank_b",
        pattern="STMT_*_camt.053.001.08.xml",
        min_files=2,
        poke_interval=timedelta(minutes=5),
        timeout=timedelta(hours=1, minutes=30),
    )

    internal = reconciliation_check(
        task_id="customer_funds_vs_safeguarded_cash",
        left={
            "table": "intermediate.int_ledger_balances_daily",
            "date_column": "balance_date",
            "keys": {"currency_code": "currency_code"},
            "measure": "SUM(closing_balance)",
            "where": "gl_account_code = '2010'",
            "day": "{{ macros.ds_add(ds, -1) }}",
        },
        right={
            "table": "intermediate.int_ledger_balances_daily",
            "date_column": "balance_date",
            "keys": {"currency_code": "currency_code"},
            "measure": "SUM(closing_balance)",
            "where": "gl_account_code = '1020'",
            "day": "{{ macros.ds_add(ds, -1) }}",
        },
    )
    external = reconciliation_check(
        task_id="safeguarded_cash_vs_bank",
        left={
            "table": "intermediate.int_ledger_balances_daily",
            "date_column": "balance_date",
            "keys": {"currency_code": "currency_code"},
            "measure": "SUM(closing_balance)",
            "where": "gl_account_code = '1020'",
            "day": "{{ macros.ds_add(ds, -1) }}",
        },
        right={
            "table": "raw.bank_statement_lines",
            "date_column": "load_ds",
            "keys": {"currency_code": 'record:Stmt.Bal.Amt."@Ccy"::string'},
            "measure": 'SUM(record:Stmt.Bal.Amt."$"::number(18, 2))',
            "where": "record:Stmt.Bal.Tp.CdOrPrtry.Cd::string = 'CLBD'",
        },
    )

    balances >> internal
    [balances, statements] >> external
