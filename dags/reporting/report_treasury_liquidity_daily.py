"""Treasury: the daily liquidity position.

At 07:00 London time treasury decides the day's funding: how much to move between the operating, the
safeguarding and the settlement clearing accounts, and which currencies to buy. The position is the
previous day's closing ledger balance of each cash account per currency, valued in USD at the latest
closing rate, next to the expected settlement inflows of the day.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.alerts import deadline
from common.dbt import model_sensor
from common.defaults import default_args
from common.sql import unload_task

with DAG(
    dag_id="report_treasury_liquidity_daily",
    description="Cash positions per account and currency in USD, with expected settlement inflows",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("30 6 * * 1-5", timezone="Europe/London"),
    start_date=pendulum.datetime(2024, 1, 2, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(owner="treasury-data", retries=3, retry_delay=timedelta(minutes=3)),
    deadline=deadline(within=timedelta(minutes=45), team="treasury-data"),
    tags=["reporting", "treasury", "liquidity", "daily"],
):
    balances = model_sensor(task_id="wait_for_balances", model="int_ledger_balances_daily", offset_days=-1)
    rates = model_sensor(task_id="wait_for_rates", model="dim_currencies", offset_days=-1)

    position = unload_task(
        task_id="export_position",
        query=(
            "SELECT b.gl_account_code, b.gl_account_name, b.currency_code,\n"
            "       SUM(b.closing_balance) AS closing_balance,\n"
            "       SUM(b.closing_balance) * MAX(c.latest_rate_to_usd) AS closing_balance_usd,\n"
            "       MAX(s.expected_inflow) AS expected_settlement_inflow\n"
            "FROM intermediate.int_ledger_balances_daily b\n"
            "JOIN marts.dim_currencies c ON c.currency_code = b.currency_code\n"
            "LEFT JOIN (SELECT currency_code, SUM(net_amount) AS expected_inflow FROM marts.fct_settlements\n"
            "           WHERE settlement_date = '{{ macros.ds_add(ds, -1) }}' GROUP BY currency_code) s\n"
            "  ON s.currency_code = b.currency_code\n"
            "WHERE b.balance_date = '{{ macros.ds_add(ds, -1) }}' AND b.account_class = 'asset'\n"
            "  AND b.gl_account_code IN ('1010', '1020', '1030')\n"
            "GROUP BY b.gl_account_code, b.gl_account_name, b.currency_code"
        ),
        stage="treasury_reports",
        path="liquidity_position",
        file_format="csv",
        single_file=True,
    )

    [balances, rates] >> position
