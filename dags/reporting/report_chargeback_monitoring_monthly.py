"""Risk: merchants in the card schemes' chargeback monitoring programmes, monthly.

Visa's acquirer monitoring programme and Mastercard's excessive chargeback programme put a merchant
into remediation (and then fines) when its monthly chargeback ratio and count exceed the thresholds.
From dim_merchants (ratio and count against the thresholds in the dbt vars), the month's flagged
merchants are exported for the merchant risk team, with the previous month's status so that
second-month merchants, which trigger fines, stand out.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import dbt_task, model_sensor
from common.defaults import default_args
from common.partitions import MONTH_END, MONTH_START
from common.sql import sql_task, unload_task

with DAG(
    dag_id="report_chargeback_monitoring_monthly",
    description="Merchants above scheme chargeback thresholds this month and last month",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 8 6 * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 6, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    default_args=default_args(owner="risk-data", retries=2, retry_delay=timedelta(minutes=20)),
    tags=["reporting", "chargebacks", "merchants", "scheme-monitoring", "monthly"],
):
    chargebacks = model_sensor(task_id="wait_for_month_end_chargebacks", model="fct_chargebacks", run_date=MONTH_END)

    month_dimension = dbt_task(
        task_id="rebuild_merchant_rates", select="int_chargeback_rates dim_merchants", grain="monthly"
    )

    snapshot = sql_task(
        task_id="snapshot_flagged_merchants",
        sql=[
            f"DELETE FROM risk.chargeback_monitoring WHERE month_start = '{MONTH_START}'",
            "INSERT INTO risk.chargeback_monitoring (month_start, merchant_id, chargeback_rate, chargebacks_count)\n"
            f"SELECT '{MONTH_START}', merchant_id, chargeback_rate, chargebacks_count\n"
            "FROM marts.dim_merchants WHERE is_above_chargeback_threshold",
        ],
    )

    export = unload_task(
        task_id="export_monitoring_list",
        query=(
            "SELECT m.merchant_id, d.merchant_name, d.mcc, d.risk_tier, m.chargeback_rate, m.chargebacks_count,\n"
            "       p.merchant_id IS NOT NULL AS flagged_previous_month\n"
            "FROM risk.chargeback_monitoring m\n"
            "JOIN marts.dim_merchants d ON d.merchant_id = m.merchant_id\n"
            "LEFT JOIN risk.chargeback_monitoring p\n"
            "  ON p.merchant_id = m.merchant_id\n"
            " AND p.month_start = '{{ data_interval_start.start_of('month').subtract(months=1) | ds }}'\n"
            f"WHERE m.month_start = '{MONTH_START}'"
        ),
        stage="risk_reports",
        path="chargeback_monitoring",
        grain="monthly",
        file_format="csv",
        single_file=True,
    )

    chargebacks >> month_dimension >> snapshot >> export
