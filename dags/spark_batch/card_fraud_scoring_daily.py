"""Fraud: daily scoring of every card authorization with the production fraud model.

Real-time decisions use the online model at authorization time; this batch re-scores the whole day
with the production model and the fraud signals that arrived after the decision (device, velocity and
consortium signals from fraud.signals.v1). The scores in lake.card_fraud_scores feed the fraud case
candidates, the chargeback-based model back-test and the customer risk features.

The day is complete when both streaming ingests (authorizations, fraud signals) have committed past
midnight. Fraud signals may trail by up to an hour, hence the longer grace on that stream.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.kafka import topic_sensor
from common.quality import quality_check
from common.spark import spark_task
from common.streaming import stream_progress_sensor

with DAG(
    dag_id="card_fraud_scoring_daily",
    description="lake.card_authorizations_raw + lake.fraud_signals_raw -> lake.card_fraud_scores",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("15 2 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=True,
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(owner="risk-data", retries=2, retry_delay=timedelta(minutes=15)),
    tags=["spark", "fraud", "cards", "daily", "model-scoring"],
):
    auths = stream_progress_sensor(task_id="wait_for_authorizations_stream", job="card_auth_stream_ingest")
    signals = stream_progress_sensor(
        task_id="wait_for_fraud_signal_stream", job="fraud_signal_stream", grace=timedelta(hours=1)
    )
    signal_topic = topic_sensor(task_id="wait_for_fraud_signals", topic="fraud.signals.v1", grace=timedelta(hours=1))
    auth_topic = topic_sensor(task_id="wait_for_card_authorizations", topic="cards.authorizations.v1")

    score = spark_task(
        task_id="score_authorizations",
        job="card_fraud_scoring",
        executor_memory="12g",
        max_executors=60,
    )

    checks = quality_check(
        task_id="check_scores",
        table="lake.card_fraud_scores",
        min_rows=100_000,
        not_null=["score_id", "authorization_id", "fraud_score", "risk_band", "model_version", "scored_at"],
        unique=["authorization_id"],
        accepted_values={"risk_band": ["low", "medium", "high"]},
        expressions={
            "scores_are_probabilities": "MIN(fraud_score) >= 0 AND MAX(fraud_score) <= 1",
            "single_model_version": "COUNT(DISTINCT model_version) = 1",
            "critical_rate_sane": "COUNT_IF(fraud_score >= 0.9) <= 0.02 * COUNT(*)",
        },
    )

    [auths, signals, signal_topic, auth_topic] >> score >> checks
