"""Finance: the month-end close pack.

On the first business days of the month, finance closes the previous month. The pack has three
parts, each exported to the finance close stage: the trial balance at month end (from the daily trial
balances recorded by recon_ledger_trial_balance), revenue by stream for the month, and settlements by
currency with their reconciliation status. The financial controller approves the pack, which locks
the month in finance.closed_periods so that later restatements of the month are flagged.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.approvals import sign_off
from common.dbt import model_sensor
from common.defaults import default_args
from common.partitions import MONTH_END, MONTH_START
from common.sql import sql_task, unload_task

with DAG(
    dag_id="report_finance_month_end_close",
    description="Month-end close pack: trial balance, revenue, settlements; controller approval locks the month",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 6 2 * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 2, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(days=8),
    default_args=default_args(
        owner="finance-reporting", retries=2, retry_delay=timedelta(minutes=30), severity="critical"
    ),
    tags=["reporting", "finance", "month-end", "close", "sox"],
):
    revenue_done = model_sensor(task_id="wait_for_last_day_revenue", model="rpt_daily_revenue", run_date=MONTH_END)
    settlements_done = model_sensor(
        task_id="wait_for_last_day_settlements", model="fct_settlements", run_date=MONTH_END
    )

    trial_balance = unload_task(
        task_id="export_trial_balance",
        query=f"SELECT * FROM finance.trial_balance WHERE balance_date = '{MONTH_END}' ORDER BY currency_code, account_class",
        stage="finance_close",
        path="trial_balance",
        grain="monthly",
        file_format="csv",
        single_file=True,
    )
    revenue = unload_task(
        task_id="export_revenue",
        query=(
            "SELECT revenue_stream, SUM(transactions_count) AS transactions, SUM(gross_volume_usd) AS gross_volume_usd,\n"
            "       SUM(revenue_usd) AS revenue_usd\n"
            f"FROM marts.rpt_daily_revenue WHERE revenue_date BETWEEN '{MONTH_START}' AND '{MONTH_END}'\n"
            "GROUP BY revenue_stream"
        ),
        stage="finance_close",
        path="revenue_by_stream",
        grain="monthly",
        file_format="csv",
        single_file=True,
    )
    settlements = unload_task(
        task_id="export_settlements",
        query=(
            "SELECT currency_code, match_status, COUNT(*) AS settlements, SUM(gross_amount) AS gross,\n"
            "       SUM(fee_amount) AS fees, SUM(net_amount) AS net\n"
            f"FROM marts.fct_settlements WHERE settlement_date BETWEEN '{MONTH_START}' AND '{MONTH_END}'\n"
            "GROUP BY currency_code, match_status"
        ),
        stage="finance_close",
        path="settlements",
        grain="monthly",
        file_format="csv",
        single_file=True,
    )

    approve = sign_off(
        task_id="financial_controller_approval",
        subject="Month-end close {{ data_interval_start.strftime('%B %Y') }}",
        approver_role="Financial Controller",
        body="Pack: @finance_close/*/month={{ data_interval_start.strftime('%Y-%m') }}/",
        response_timeout=timedelta(days=6),
    )

    lock = sql_task(
        task_id="lock_period",
        sql=[
            f"DELETE FROM finance.closed_periods WHERE period_start = '{MONTH_START}'",
            f"INSERT INTO finance.closed_periods (period_start, period_end, closed_in_run) VALUES ('{MONTH_START}', '{MONTH_END}', '{{{{ run_id }}}}')",
        ],
    )

    revenue_done >> [trial_balance, revenue]
    settlements_done >> settlements
    [trial_balance, revenue, settlements] >> approve >> lock
