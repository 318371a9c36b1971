"""Compliance: month-end AML features and the periodic review population.

KYC decisions taken late on the last day of a month (manual reviews, expiries processed overnight)
often reach the lake after that day's AML features were computed. On the 1st, once the account
snapshot and KYC events of the month's last day are final, `aml_features` is re-run for that day, and
the population of the monthly periodic review is frozen from it: customers with a structuring
pattern, with transfers to high-risk countries, or whose 30-day outbound value is high. Freezing
makes the month's review population reproducible for the auditors, whatever later restatements do.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.lake import partition_sensor
from common.partitions import MONTH_END
from common.spark import spark_task
from common.sql import sql_task

with DAG(
    dag_id="aml_features_month_end",
    description="Re-run aml_features for the month's last day, freeze the periodic review population",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 6 1 * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=10),
    default_args=default_args(owner="compliance-data", retries=2, retry_delay=timedelta(minutes=30)),
    tags=["spark", "aml", "compliance", "monthly", "periodic-review"],
):
    inputs_final = [
        partition_sensor(task_id="wait_for_month_end_kyc", table="lake.kyc_events", partition=MONTH_END),
        partition_sensor(task_id="wait_for_month_end_accounts", table="lake.accounts_snapshot", partition=MONTH_END),
    ]

    recompute = spark_task(
        task_id="recompute_month_end_features",
        job="aml_features",
        grain="monthly",
        executor_memory="14g",
        max_executors=50,
        execution_timeout=timedelta(hours=4),
    )

    freeze_review_population = sql_task(
        task_id="freeze_review_population",
        sql=[
            f"DELETE FROM compliance.periodic_review_population WHERE as_of = '{MONTH_END}'",
            "INSERT INTO compliance.periodic_review_population (as_of, customer_id, review_reason)\n"
            f"SELECT '{MONTH_END}', customer_id,\n"
            "  CASE WHEN structuring_flag THEN 'structuring_pattern'\n"
            "       WHEN high_risk_country_transfers_30d > 0 THEN 'high_risk_corridor'\n"
            "       ELSE 'value_threshold' END\n"
            f"FROM lake.aml_features WHERE ds = '{MONTH_END}'\n"
            "  AND (structuring_flag OR high_risk_country_transfers_30d > 0\n"
            "       OR outbound_amount_usd_30d > 50000 OR velocity_zscore > 4)",
        ],
    )

    inputs_final >> recompute >> freeze_review_population
