"""Data quality: transfer lifecycle consistency.

On the day's transfers: a completed transfer has a completion time after its initiation, an
international transfer has a counterparty country and its corridor risk, external rails carry a fee
only where the tariff has one (internal transfers are free), and settlement speed per rail is within
the rail's scheme limits (Faster Payments completes within two hours).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.quality import quality_check

with DAG(
    dag_id="dq_transfers_checks",
    description="Lifecycle, corridor and rail-timing checks on fct_transfers for the day",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("30 7 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=True,
    max_active_runs=3,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(owner="payments-data", retries=1, retry_delay=timedelta(minutes=10), severity="low"),
    tags=["quality", "transfers", "daily"],
):
    built = model_sensor(task_id="wait_for_fct_transfers", model="fct_transfers")

    checks = quality_check(
        task_id="check_transfers",
        table="marts.fct_transfers",
        partition_column="initiated_date",
        accepted_values={"status": ["pending", "completed", "failed", "returned"]},
        non_negative=["amount", "fee_amount", "seconds_to_complete"],
        expressions={
            "completed_have_completion": "COUNT_IF(status = 'completed' AND completed_at IS NULL) = 0",
            "completion_after_initiation": "COUNT_IF(completed_at < initiated_at) = 0",
            "international_have_country": "COUNT_IF(transfer_type = 'international' AND counterparty_country IS NULL) = 0",
            "internal_transfers_free": "COUNT_IF(rail = 'internal' AND fee_amount > 0) = 0",
            "faster_payments_within_2h": "COUNT_IF(rail = 'faster_payments' AND seconds_to_complete > 7200) = 0",
        },
    )

    built >> checks
