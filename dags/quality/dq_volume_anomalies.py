"""Data quality: daily volume anomalies across the core tables.

A day whose row count strays far from the same weekday of the previous four weeks points to a partial
load, a duplicated one, or a real business event that operations should know about. Each table has
its own tolerance: card authorizations and payments follow a stable weekly pattern (±35%), transfers
swing with payroll days (±50%), ledger lines follow both (±45%).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.quality import volume_anomaly_check

with DAG(
    dag_id="dq_volume_anomalies",
    description="Row volume vs the same weekday of the last four weeks for five core tables",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 10 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 3, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(owner="data-platform", retries=1, retry_delay=timedelta(minutes=10), severity="low"),
    tags=["quality", "anomaly-detection", "volumes", "daily"],
):
    volume_anomaly_check(
        task_id="payments_volume", table="marts.fct_payments", date_column="payment_date", tolerance=0.35
    )
    volume_anomaly_check(
        task_id="authorizations_volume",
        table="marts.fct_card_authorizations",
        date_column="authorized_date",
        tolerance=0.35,
    )
    volume_anomaly_check(
        task_id="transfers_volume", table="marts.fct_transfers", date_column="initiated_date", tolerance=0.5
    )
    volume_anomaly_check(task_id="ledger_volume", table="lake.ledger_entries", tolerance=0.45)
    volume_anomaly_check(
        task_id="declined_authorizations_volume",
        table="marts.fct_card_authorizations",
        date_column="authorized_date",
        weeks=6,
        tolerance=0.5,
        where="NOT is_approved",
    )
