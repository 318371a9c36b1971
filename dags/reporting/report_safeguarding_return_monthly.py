"""Treasury (UK e-money entity): the monthly safeguarding return.

The FCA's monthly safeguarding return reports, as at the last business day of the month, the relevant
funds owed to e-money holders, the amount safeguarded per method and institution, and the
reconciliation differences and how they were resolved. The figures come from the month-end ledger
balances (GL 2010 and GL 1020) and from recon.breaks of the month's daily safeguarding
reconciliations. The safeguarding officer approves the return before it is filed through RegData.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.approvals import sign_off
from common.defaults import default_args
from common.partitions import MONTH_END, MONTH_START
from common.quality import quality_check
from common.sql import unload_task

with DAG(
    dag_id="report_safeguarding_return_monthly",
    description="FCA monthly safeguarding return: relevant funds vs safeguarded, month-end, signed off",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 8 5 * *", timezone="Europe/London"),
    start_date=pendulum.datetime(2025, 5, 5, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(days=10),
    default_args=default_args(owner="treasury-data", retries=2, retry_delay=timedelta(minutes=15), severity="critical"),
    tags=["reporting", "safeguarding", "fca", "regulatory", "monthly", "uk"],
):
    month_reconciled = quality_check(
        task_id="check_every_day_reconciled",
        table="recon.breaks",
        grain="monthly",
        partition_column="period_start",
        where="recon_name IN ('customer_funds_vs_safeguarded_cash', 'safeguarded_cash_vs_bank')",
        expressions={"no_unexplained_breaks": "COUNT_IF(difference <> 0) = 0"},
    )

    figures = unload_task(
        task_id="export_return_figures",
        query=(
            "SELECT currency_code,\n"
            "       SUM(CASE WHEN gl_account_code = '2010' THEN closing_balance END) AS relevant_funds,\n"
            "       SUM(CASE WHEN gl_account_code = '1020' THEN closing_balance END) AS safeguarded_in_accounts\n"
            "FROM intermediate.int_ledger_balances_daily\n"
            f"WHERE balance_date = (SELECT MAX(balance_date) FROM intermediate.int_ledger_balances_daily\n"
            f"                      WHERE balance_date BETWEEN '{MONTH_START}' AND '{MONTH_END}'\n"
            "                        AND DAYOFWEEKISO(balance_date) <= 5)\n"
            "GROUP BY currency_code"
        ),
        stage="regulatory_returns",
        path="fca_safeguarding_return",
        grain="monthly",
        file_format="csv",
        single_file=True,
    )

    approve = sign_off(
        task_id="safeguarding_officer_sign_off",
        subject="Safeguarding return {{ data_interval_start.strftime('%B %Y') }}",
        approver_role="Safeguarding Officer",
        body="Return figures: @regulatory_returns/fca_safeguarding_return/month={{ data_interval_start.strftime('%Y-%m') }}/",
        response_timeout=timedelta(days=8),
    )

    month_reconciled >> figures >> approve
