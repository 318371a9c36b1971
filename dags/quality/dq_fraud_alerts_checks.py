"""Data quality: fraud alerts reaching the operations queue.

The alerts raised for a day must be reviewable: one alert per authorization and trigger, review due
times set by priority (p1 within 4 hours, p2 within 24, p3 within 72 of the authorization, so a p1
is never due after a p3 raised at the same time), scores that are probabilities. dbt's own tests of the
fraud models run first, then these cross-checks.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import dbt_task, model_sensor
from common.defaults import default_args
from common.quality import quality_check

with DAG(
    dag_id="dq_fraud_alerts_checks",
    description="dbt tests of fct_fraud_alerts plus priority, due-time and score consistency",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 6 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(owner="risk-data", retries=1, retry_delay=timedelta(minutes=5)),
    tags=["quality", "fraud", "operations", "daily"],
):
    built = model_sensor(task_id="wait_for_fct_fraud_alerts", model="fct_fraud_alerts")

    tests = dbt_task(task_id="test_fraud_models", select="int_fraud_case_candidates fct_fraud_alerts", command="test")

    cross_checks = quality_check(
        task_id="check_alerts",
        table="marts.fct_fraud_alerts",
        partition_column=None,
        where="raised_at >= '{{ ds }}' AND raised_at < '{{ macros.ds_add(ds, 1) }}'",
        unique=["alert_id"],
        accepted_values={"priority": ["p1", "p2", "p3"]},
        not_null=["review_due_at", "trigger_reason"],
        expressions={
            "scores_are_probabilities": "COUNT_IF(fraud_score < 0 OR fraud_score > 1) = 0",
            "p1_due_first": "COALESCE(MAX(CASE WHEN priority = 'p1' THEN review_due_at - raised_at END) <= MIN(CASE WHEN priority = 'p3' THEN review_due_at - raised_at END), TRUE)",
        },
    )

    built >> tests >> cross_checks
