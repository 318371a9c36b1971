"""Reconciliation: expected settlement payouts against the money that arrived at the bank.

fct_settlements holds, per settlement date and currency, the net amount the acquirers should pay us.
The operating bank account's camt.053 statement shows what was credited. Acquirers pay T+1 business
day, so a settlement of day D is expected on the statement delivered two days later (the statement
of D+1, delivered on D+2); the check runs on that day and compares the two.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.landing import landing_sensor
from common.reconciliation import reconciliation_check

with DAG(
    dag_id="recon_settlements_vs_bank_statements",
    description="fct_settlements net amounts vs camt.053 credits from the acquirers, T+1",
    doc_md=__doc__,
    # The run of day D starts at D+1 09:00 and waits for the statement delivered on D+2.
    schedule=CronDataIntervalTimetable("0 9 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=True,
    max_active_runs=3,
    dagrun_timeout=timedelta(days=2),
    default_args=default_args(owner="treasury-data", retries=2, retry_delay=timedelta(minutes=30)),
    tags=["reconciliation", "settlements", "treasury", "bank", "daily"],
):
    settlements = model_sensor(task_id="wait_for_fct_settlements", model="fct_settlements")
    statement = landing_sensor(
        task_id="wait_for_statement_with_credits",
        source="safeguarding_bank_a",
        pattern="camt053_operating_*.xml",
        offset_days=2,
        poke_interval=timedelta(minutes=30),
        timeout=timedelta(days=1, hours=12),
    )

    recon = reconciliation_check(
        task_id="settlements_vs_bank_credits",
        left={
            "table": "marts.fct_settlements",
            "date_column": "settlement_date",
            "keys": {"currency_code": "currency_code"},
            "measure": "SUM(net_amount)",
        },
        right={
            "table": "raw.bank_statement_lines",
            "date_column": "load_ds",
            "day": "{{ macros.ds_add(ds, 2) }}",
            "keys": {"currency_code": 'record:Ntry.Amt."@Ccy"::string'},
            "measure": 'SUM(record:Ntry.Amt."$"::number(18, 2))',
            "where": "record:Ntry.CdtDbtInd::string = 'CRDT' AND record:Ntry.AddtlNtryInf::string ILIKE '%SETTLEMENT%'",
        },
        tolerance=1.00,
        max_breaks=0,
    )

    [settlements, statement] >> recon
