"""FX: end-of-day rates from fx.rates.v1 into lake.fx_rates_daily.

The treasury pricing service publishes rates to `fx.rates.v1` throughout the day. The
`fx_rates_daily` job aggregates the day's quotes into one closing rate per currency against USD, the
reporting currency, which payments_clean and the dbt FX conversion use. The day is cut at 22:00 UTC,
after the WM/Reuters 16:00 London fix and the New York close.

The run is triggered at 22:15 for the day that is ending (its logical date); all 24 currencies of the treasury's
reference set must have a closing rate, otherwise downstream conversions would silently drop rows.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.defaults import default_args
from common.kafka import topic_sensor
from common.quality import quality_check
from common.spark import spark_task

with DAG(
    dag_id="fx_rates_eod_ingest",
    description="fx.rates.v1 -> lake.fx_rates_daily at the 22:00 UTC cut",
    doc_md=__doc__,
    # A point-in-time cut, not an interval: the run triggered at 22:15 on day D has logical date D
    # and closes day D.
    schedule=CronTriggerTimetable("15 22 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    default_args=default_args(owner="treasury-data", retries=3, retry_delay=timedelta(minutes=5)),
    tags=["ingestion", "fx", "treasury", "kafka"],
):
    wait = topic_sensor(
        task_id="wait_for_rates_past_cut",
        topic="fx.rates.v1",
        grace=timedelta(minutes=1),
        poke_interval=timedelta(minutes=1),
        timeout=timedelta(minutes=45),
    )

    close = spark_task(
        task_id="close_daily_rates",
        job="fx_rates_daily",
        executor_memory="2g",
        executor_cores=2,
        max_executors=4,
    )

    complete = quality_check(
        task_id="check_reference_currencies",
        table="lake.fx_rates_daily",
        min_rows=24,
        not_null=["rate_date", "base_currency", "quote_currency", "rate", "published_at"],
        unique=["base_currency", "quote_currency"],
        accepted_values={"quote_currency": ["USD"]},
        expressions={
            "rates_positive": "MIN(rate) > 0",
            "all_reference_currencies": "COUNT(DISTINCT base_currency) >= 24",
            "rate_date_is_partition": "COUNT_IF(rate_date <> '{{ ds }}') = 0",
        },
    )

    wait >> close >> complete
