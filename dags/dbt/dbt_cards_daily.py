"""dbt, cards domain: daily finalisation of the card authorization models.

The hourly intraday build (dbt_cards_intraday) keeps today's authorizations fresh for operations; the
daily build rebuilds the whole day once the authorization stream has committed past midnight, which
catches authorizations that arrived late for their hour and the reversals matched after the fact.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import dbt_task
from common.defaults import default_args
from common.streaming import stream_progress_sensor

with DAG(
    dag_id="dbt_cards_daily",
    description="dbt build of the card authorization models for the whole day",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("45 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=True,
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(owner="cards-data", retries=2, retry_delay=timedelta(minutes=5)),
    tags=["dbt", "cards", "daily"],
):
    stream = stream_progress_sensor(
        task_id="wait_for_auth_stream", job="card_auth_stream_ingest", grace=timedelta(minutes=30)
    )

    build = dbt_task(
        task_id="build_card_authorizations",
        select="stg_card_authorizations int_card_auth_outcomes fct_card_authorizations",
        threads=6,
    )

    stream >> build
