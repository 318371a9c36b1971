"""Data quality: settlement matching outcomes.

Checks on the day's settlements after matching: a settlement is reconciled only when matched, its
USD amounts follow the payment's conversion, it is settled no earlier than its payment and no later
than five days after it (acquirer payout terms), and processor references are unique per batch.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.quality import quality_check

with DAG(
    dag_id="dq_settlements_checks",
    description="Matching, timing and reference checks on fct_settlements for the day",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("15 7 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=True,
    max_active_runs=3,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(owner="ledger-data", retries=1, retry_delay=timedelta(minutes=10)),
    tags=["quality", "settlements", "daily"],
):
    built = model_sensor(task_id="wait_for_fct_settlements", model="fct_settlements")

    checks = quality_check(
        task_id="check_settlements",
        table="marts.fct_settlements",
        partition_column="settlement_date",
        not_null=["settlement_id", "payment_id", "processor_reference", "match_status"],
        unique=["settlement_batch_id", "processor_reference"],
        accepted_values={
            "match_status": [
                "matched",
                "amount_mismatch",
                "duplicate_settlement",
                "orphan_settlement",
                "unexpected_settlement",
            ],
        },
        expressions={
            "reconciled_only_when_matched": "COUNT_IF(is_reconciled AND match_status <> 'matched') = 0",
            "fee_usd_not_above_gross_usd": "COUNT_IF(fee_amount_usd > gross_amount_usd) = 0",
            "settled_after_payment_within_5_days": (
                "COUNT_IF(settlement_date < (SELECT p.payment_date FROM marts.fct_payments p "
                "WHERE p.payment_id = marts.fct_settlements.payment_id) OR settlement_date > "
                "DATEADD('day', 5, (SELECT p.payment_date FROM marts.fct_payments p "
                "WHERE p.payment_id = marts.fct_settlements.payment_id))) = 0"
            ),
        },
    )

    built >> checks
