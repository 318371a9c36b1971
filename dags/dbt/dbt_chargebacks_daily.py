"""dbt, payments domain: chargebacks and merchant chargeback rates.

Builds the chargeback staging, the per-merchant chargeback rates used by the scheme monitoring
programmes (a merchant is flagged when both the ratio threshold and the count floor are reached; both
are dbt vars) and the chargeback fact.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import dbt_task
from common.defaults import default_args
from common.lake import partition_sensor

with DAG(
    dag_id="dbt_chargebacks_daily",
    description="dbt build: stg_chargebacks -> int_chargeback_rates, fct_chargebacks",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("50 4 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=True,
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(owner="payments-data", retries=2, retry_delay=timedelta(minutes=10)),
    tags=["dbt", "chargebacks", "disputes", "daily"],
):
    chargebacks = partition_sensor(task_id="wait_for_chargebacks", table="lake.chargebacks")
    payments = partition_sensor(task_id="wait_for_payments_clean", table="lake.payments_clean")

    build = dbt_task(task_id="build_chargebacks", select="stg_chargebacks int_chargeback_rates fct_chargebacks")

    [chargebacks, payments] >> build
