"""dbt, finance domain: settlements and their matching to payments.

int_settlement_matching matches every settlement line to its payment (amount in USD at the payment's
rate, fees, match status); fct_settlements is the reconciled settlement fact. Both feed the revenue
report and the settlement reconciliations.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import dbt_task, model_sensor
from common.defaults import default_args
from common.lake import partition_sensor
from common.quality import quality_check

with DAG(
    dag_id="dbt_settlements_daily",
    description="dbt build: stg_settlements -> int_settlement_matching -> fct_settlements",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("40 4 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(owner="ledger-data", retries=2, retry_delay=timedelta(minutes=10)),
    tags=["dbt", "settlements", "finance", "daily"],
):
    settlements = partition_sensor(task_id="wait_for_settlements", table="lake.settlements")
    payments = model_sensor(task_id="wait_for_converted_payments", model="int_payments_fx_converted")

    build = dbt_task(task_id="build_settlements", select="stg_settlements int_settlement_matching fct_settlements")

    match_rate = quality_check(
        task_id="check_match_rate",
        table="marts.fct_settlements",
        partition_column="settlement_date",
        min_rows=1,
        expressions={
            "matched_share_above_995": "COUNT_IF(is_reconciled) >= 0.995 * COUNT(*)",
            "net_equals_gross_minus_fee": "COUNT_IF(gross_amount - fee_amount <> net_amount) = 0",
        },
    )

    [settlements, payments] >> build >> match_rate
