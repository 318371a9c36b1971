"""dbt, cards domain: hourly intraday card authorization outcomes.

Operations and the fraud team watch approval rates, decline reasons and stand-in decisions during the
day. Every hour, the incremental fct_card_authorizations is brought up to the hour that just ended
from the raw authorizations the streaming ingest wrote (lake.card_authorizations_raw, through the
staging and outcome views). The hour's window goes to dbt as `window_start` / `window_end`; the model
merges on authorization_id, so a re-run of an hour is idempotent.

The intraday numbers are provisional; dbt_cards_daily rebuilds the whole day after midnight.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import dbt_task
from common.defaults import default_args
from common.quality import quality_check
from common.streaming import stream_progress_sensor

with DAG(
    dag_id="dbt_cards_intraday",
    description="Hourly dbt build of authorization outcomes for the hour that ended",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("10 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 6, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=50),
    default_args=default_args(
        owner="cards-data",
        retries=1,
        retry_delay=timedelta(minutes=3),
        execution_timeout=timedelta(minutes=30),
        severity="low",
    ),
    tags=["dbt", "cards", "hourly", "intraday"],
):
    stream = stream_progress_sensor(
        task_id="wait_for_hour_committed",
        job="card_auth_stream_ingest",
        grace=timedelta(minutes=2),
        poke_interval=timedelta(minutes=1),
        timeout=timedelta(minutes=30),
    )

    build = dbt_task(
        task_id="build_hour",
        select="fct_card_authorizations",
        grain="hourly",
        threads=4,
        pool="dbt_warehouse_intraday",
    )

    approval_rate = quality_check(
        task_id="check_hour_approval_rate",
        table="marts.fct_card_authorizations",
        grain="hourly",
        partition_column="authorized_date",
        timestamp_column="authorized_at",
        min_rows=1,
        expressions={
            "approval_rate_above_80pct": "COUNT_IF(is_approved) >= 0.8 * COUNT(*)",
            "scored_share_above_99pct": "COUNT_IF(fraud_score IS NULL) <= 0.01 * COUNT(*)",
        },
    )

    stream >> build >> approval_rate
