"""dbt, finance domain: daily revenue by revenue stream.

rpt_daily_revenue reports, per day and revenue stream (merchant service fees, transfer fees, FX margin,
net of chargeback losses), transaction counts, gross volume and revenue in USD. Finance's daily flash
is sent at 08:00 US Eastern, which is the deadline of this DAG.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.alerts import deadline
from common.dbt import dbt_task, model_sensor
from common.defaults import default_args

with DAG(
    dag_id="dbt_finance_revenue_daily",
    description="dbt build: rpt_daily_revenue once settlements, chargebacks and transfers are built",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 7 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(owner="finance-reporting", retries=2, retry_delay=timedelta(minutes=10)),
    deadline=deadline(within=timedelta(hours=5), team="finance-reporting"),
    tags=["dbt", "finance", "revenue", "daily"],
):
    [
        model_sensor(task_id="wait_for_settlement_matching", model="int_settlement_matching"),
        model_sensor(task_id="wait_for_chargebacks", model="fct_chargebacks"),
        model_sensor(task_id="wait_for_transfers", model="int_transfers_enriched"),
    ] >> dbt_task(task_id="build_daily_revenue", select="rpt_daily_revenue")
