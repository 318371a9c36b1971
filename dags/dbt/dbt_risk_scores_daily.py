"""dbt, risk domain: the daily customer risk score.

rpt_customer_risk_scores combines KYC, country, AML and fraud components into one score and band per
customer. The score is consumed by the onboarding and limits services through a nightly export
(ml_features domain) and by the quarterly customer risk assessment, so it is built last in the
morning chain, after the customers, AML and fraud models of the day.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import dbt_task, model_sensor
from common.defaults import default_args
from common.quality import quality_check

with DAG(
    dag_id="dbt_risk_scores_daily",
    description="dbt build: rpt_customer_risk_scores after customers, AML and fraud models",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("30 6 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 3, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(owner="risk-data", retries=2, retry_delay=timedelta(minutes=10)),
    tags=["dbt", "risk", "customers", "daily"],
):
    inputs = [
        model_sensor(task_id="wait_for_customer_activity", model="int_customer_activity"),
        model_sensor(task_id="wait_for_account_risk_inputs", model="int_account_risk_inputs"),
        model_sensor(task_id="wait_for_fraud_cases", model="int_fraud_case_candidates"),
    ]

    scores = dbt_task(task_id="build_risk_scores", select="rpt_customer_risk_scores")

    distribution = quality_check(
        task_id="check_score_distribution",
        table="marts.rpt_customer_risk_scores",
        partition_column="scored_as_of_date",
        min_rows=1_000,
        unique=["customer_id"],
        accepted_values={"risk_band": ["low", "medium", "high", "critical"]},
        expressions={"high_bands_below_5pct": "COUNT_IF(risk_band IN ('high', 'critical')) <= 0.05 * COUNT(*)"},
    )

    inputs >> scores >> distribution
