"""Fraud: second scoring pass of the day before yesterday, after late fraud signals.

Consortium and chargeback-derived fraud signals (fraud.signals.v1) can reach us a day or more after
the authorization they concern. The daily scoring (card_fraud_scoring_daily) runs at 02:15 for the
day that just ended, before those late signals exist. In the afternoon of the following day, once the
fraud signal stream has committed for another full day, the same job scores that day again; the
second pass replaces the first and is the score of record that the back-tests, the customer features
of later days and the training sets read.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.partitions import ds_offset
from common.quality import quality_check
from common.spark import spark_task
from common.streaming import stream_progress_sensor

with DAG(
    dag_id="card_fraud_scoring_second_pass",
    description="Re-score the day before yesterday once a further day of fraud signals has landed",
    doc_md=__doc__,
    # The run of interval [D 14:00, D+1 14:00) starts at D+1 14:00 and re-scores day D-1.
    schedule=CronDataIntervalTimetable("0 14 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 3, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(owner="risk-data", retries=2, retry_delay=timedelta(minutes=20), severity="low"),
    tags=["spark", "fraud", "cards", "daily", "late-data"],
):
    signals = stream_progress_sensor(
        task_id="wait_for_a_further_day_of_signals", job="fraud_signal_stream", grace=timedelta(0)
    )

    rescore = spark_task(
        task_id="rescore_day",
        job="card_fraud_scoring",
        run_date=ds_offset(-1),
        executor_memory="12g",
        max_executors=40,
        pool="emr_batch_low_priority",
    )

    checks = quality_check(
        task_id="check_second_pass",
        table="lake.card_fraud_scores",
        partition_column=None,
        where="ds = '{{ macros.ds_add(ds, -1) }}'",
        unique=["authorization_id"],
        expressions={"scores_are_probabilities": "MIN(fraud_score) >= 0 AND MAX(fraud_score) <= 1"},
    )

    signals >> rescore >> checks
