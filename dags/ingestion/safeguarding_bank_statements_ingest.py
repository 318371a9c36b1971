"""Treasury: camt.053 statements of the safeguarding and operating bank accounts.

Client e-money is safeguarded in segregated accounts at two banks. Each bank sends an ISO 20022
camt.053 end-of-day statement per account for the previous business day: the first bank by 06:00,
the second by 08:30 London time. The statements feed the daily safeguarding reconciliation, which must
be done by 10:00 London time (FCA safeguarding rules), so a late statement pages treasury-data.

Statements are only produced for UK business days.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.alerts import deadline
from common.defaults import default_args
from common.landing import copy_into_raw, landing_sensor
from common.quality import quality_check

with DAG(
    dag_id="safeguarding_bank_statements_ingest",
    description="camt.053 statements of the safeguarding accounts -> raw.bank_statement_lines",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("45 5 * * 1-5", timezone="Europe/London"),
    start_date=pendulum.datetime(2024, 1, 2, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(owner="treasury-data", retries=3, retry_delay=timedelta(minutes=5), severity="critical"),
    deadline=deadline(within=timedelta(hours=3, minutes=30), team="treasury-data", severity="critical"),
    tags=["ingestion", "treasury", "safeguarding", "camt053", "external"],
):
    bank_a = landing_sensor(
        task_id="wait_for_bank_a_statements",
        source="safeguarding_bank_a",
        pattern="camt053_*.xml",
        min_files=3,
        poke_interval=timedelta(minutes=5),
        timeout=timedelta(hours=2),
    )
    bank_b = landing_sensor(
        task_id="wait_for_bank_b_statements",
        source="safeguarding_bank_b",
        pattern="STMT_*_camt.053.001.08.xml",
        min_files=2,
        poke_interval=timedelta(minutes=5),
        timeout=timedelta(hours=3, minutes=30),
    )

    load_a = copy_into_raw(
        task_id="load_bank_a", source="safeguarding_bank_a", dataset="bank_statement_lines", file_format="camt053"
    )
    load_b = copy_into_raw(
        task_id="load_bank_b", source="safeguarding_bank_b", dataset="bank_statement_lines", file_format="camt053"
    )

    closing_balances = quality_check(
        task_id="check_closing_balances_present",
        table="raw.bank_statement_lines",
        partition_column="load_ds",
        expressions={
            "closing_balance_per_account": (
                "COUNT(DISTINCT record:Stmt.Acct.Id.IBAN::string) = "
                "COUNT(DISTINCT CASE WHEN record:Stmt.Bal.Tp.CdOrPrtry.Cd::string = 'CLBD' "
                "THEN record:Stmt.Acct.Id.IBAN::string END)"
            ),
        },
    )

    bank_a >> load_a >> closing_balances
    bank_b >> load_b
