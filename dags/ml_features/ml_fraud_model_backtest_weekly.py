"""ML features: weekly back-test of the production card fraud model on matured labels.

For the authorizations of the week that ended 120 days ago (labels matured), the batch scores in
lake.card_fraud_scores are compared with the fraud labels: precision and recall at the case-queue
threshold, and the fraud value caught. The results are appended per week to ml.fraud_model_backtest
for the model risk committee; recall below 60% or precision below 20% fails the run, which is the
trigger for the model's re-training review under the model risk policy.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.quality import quality_check
from common.sql import sql_task

with DAG(
    dag_id="ml_fraud_model_backtest_weekly",
    description="Precision and recall of card_fraud_scores at the queue threshold on 120-day-old labels",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 6 * * 2", timezone="UTC"),
    start_date=pendulum.datetime(2024, 6, 4, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(owner="risk-data", retries=1, retry_delay=timedelta(minutes=30)),
    tags=["ml", "fraud", "model-risk", "backtest", "weekly"],
):
    labels = model_sensor(task_id="wait_for_chargebacks", model="fct_chargebacks")

    backtest = sql_task(
        task_id="compute_backtest",
        sql=[
            "DELETE FROM ml.fraud_model_backtest WHERE week_start = '{{ macros.ds_add(ds, -120) }}'",
            "INSERT INTO ml.fraud_model_backtest (week_start, model_version, flagged, fraud, true_positives, fraud_value_caught_usd)\n"
            "SELECT '{{ macros.ds_add(ds, -120) }}', s.model_version,\n"
            "       COUNT_IF(s.fraud_score >= 0.85), COUNT_IF(c.chargeback_id IS NOT NULL),\n"
            "       COUNT_IF(s.fraud_score >= 0.85 AND c.chargeback_id IS NOT NULL),\n"
            "       SUM(CASE WHEN s.fraud_score >= 0.85 AND c.chargeback_id IS NOT NULL THEN a.amount_usd ELSE 0 END)\n"
            "FROM lake.card_fraud_scores s\n"
            "JOIN marts.fct_card_authorizations a ON a.authorization_id = s.authorization_id\n"
            "LEFT JOIN marts.fct_chargebacks c ON c.payment_id = a.payment_id AND c.reason_category = 'fraud'\n"
            "WHERE s.ds BETWEEN '{{ macros.ds_add(ds, -120) }}' AND '{{ macros.ds_add(ds, -114) }}'\n"
            "GROUP BY s.model_version",
        ],
    )

    performance = quality_check(
        task_id="check_model_performance",
        table="ml.fraud_model_backtest",
        partition_column=None,
        where="week_start = '{{ macros.ds_add(ds, -120) }}'",
        min_rows=1,
        expressions={
            "recall_at_least_60pct": "SUM(true_positives) >= 0.6 * SUM(fraud)",
            "precision_at_least_20pct": "SUM(true_positives) >= 0.2 * SUM(flagged)",
        },
    )

    labels >> backtest >> performance
