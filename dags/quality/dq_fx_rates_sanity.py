"""Data quality: plausibility of the day's closing FX rates.

A closing rate that moves more than 10% from the previous day is almost always an error (a rate typed
in the wrong direction, a pricing feed stuck on a stale value), and one that did not move at all for
five days is a stale feed. Both would silently misstate every converted amount, so they are checked
right after the cut, before dbt converts the day's payments.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.defaults import default_args
from common.lake import partition_sensor
from common.quality import quality_check

with DAG(
    dag_id="dq_fx_rates_sanity",
    description="Day-over-day moves above 10% and five-day stale rates in lake.fx_rates_daily",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("30 22 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 8, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    default_args=default_args(owner="treasury-data", retries=2, retry_delay=timedelta(minutes=3), severity="critical"),
    tags=["quality", "fx", "treasury", "daily"],
):
    rates = partition_sensor(
        task_id="wait_for_closing_rates", table="lake.fx_rates_daily", timeout=timedelta(minutes=45)
    )

    moves = quality_check(
        task_id="check_daily_moves",
        table="lake.fx_rates_daily",
        expressions={
            "no_move_above_10pct": (
                "NOT EXISTS (SELECT 1 FROM lake.fx_rates_daily t JOIN lake.fx_rates_daily y "
                "ON y.base_currency = t.base_currency AND y.quote_currency = t.quote_currency "
                "AND y.ds = '{{ macros.ds_add(ds, -1) }}' "
                "WHERE t.ds = '{{ ds }}' AND ABS(t.rate / y.rate - 1) > 0.10)"
            ),
            "no_five_day_stale_rate": (
                "NOT EXISTS (SELECT 1 FROM lake.fx_rates_daily h "
                "WHERE h.ds BETWEEN '{{ macros.ds_add(ds, -4) }}' AND '{{ ds }}' AND h.base_currency <> 'USD' "
                "GROUP BY h.base_currency HAVING COUNT(DISTINCT h.rate) = 1 AND COUNT(*) = 5)"
            ),
        },
    )

    rates >> moves
