"""ML features: population stability (PSI) of the model features against a 28-day baseline.

A feature whose distribution shifts (a new customer segment, a change in an upstream job) degrades
the models that use it silently. Every day the population stability index of each monitored feature
is computed against the 28 days that ended a week ago, on deciles of the baseline, and stored in
ml.feature_drift for the model monitoring dashboard. PSI above 0.25 on any feature fails the run and
alerts ml-platform; between 0.1 and 0.25 is only shown on the dashboard.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.lake import partition_sensor
from common.quality import quality_check
from common.sql import sql_task

MONITORED = ("tenure_days", "payments_count_90d", "payments_amount_usd_90d", "avg_fraud_score_90d")


def psi_statement(feature: str) -> str:
    """INSERT the PSI of one feature of lake.customer_features for the run's day."""
    return (
        "INSERT INTO ml.feature_drift (drift_date, feature_group, feature, psi)\n"
        "WITH baseline AS (\n"
        f"  SELECT {feature} AS v FROM lake.customer_features\n"
        "  WHERE ds BETWEEN '{{ macros.ds_add(ds, -35) }}' AND '{{ macros.ds_add(ds, -8) }}'\n"
        "), edges AS (\n"
        "  SELECT APPROX_PERCENTILE(v, 0.1) e1, APPROX_PERCENTILE(v, 0.2) e2, APPROX_PERCENTILE(v, 0.3) e3,\n"
        "         APPROX_PERCENTILE(v, 0.4) e4, APPROX_PERCENTILE(v, 0.5) e5, APPROX_PERCENTILE(v, 0.6) e6,\n"
        "         APPROX_PERCENTILE(v, 0.7) e7, APPROX_PERCENTILE(v, 0.8) e8, APPROX_PERCENTILE(v, 0.9) e9\n"
        "  FROM baseline\n"
        "), binned AS (\n"
        "  SELECT src, WIDTH_BUCKET(v, ARRAY_CONSTRUCT(e1, e2, e3, e4, e5, e6, e7, e8, e9)) AS bin FROM (\n"
        "    SELECT 'baseline' AS src, v FROM baseline\n"
        f"    UNION ALL SELECT 'current', {feature} FROM lake.customer_features WHERE ds = '{{{{ ds }}}}'\n"
        "  ) CROSS JOIN edges\n"
        "), shares AS (\n"
        "  SELECT bin, GREATEST(COUNT_IF(src = 'current') / SUM(COUNT_IF(src = 'current')) OVER (), 0.0001) AS c,\n"
        "         GREATEST(COUNT_IF(src = 'baseline') / SUM(COUNT_IF(src = 'baseline')) OVER (), 0.0001) AS b\n"
        "  FROM binned GROUP BY bin\n"
        ")\n"
        f"SELECT '{{{{ ds }}}}', 'customer_features', '{feature}', SUM((c - b) * LN(c / b)) FROM shares"
    )


with DAG(
    dag_id="ml_feature_drift_daily",
    description="PSI of monitored customer features vs the 28-day baseline ending a week ago",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 7 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 5, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(owner="ml-platform", retries=1, retry_delay=timedelta(minutes=10)),
    tags=["ml", "monitoring", "drift", "daily"],
):
    features = partition_sensor(task_id="wait_for_customer_features", table="lake.customer_features")

    compute = sql_task(
        task_id="compute_psi",
        sql=[
            "DELETE FROM ml.feature_drift WHERE drift_date = '{{ ds }}' AND feature_group = 'customer_features'",
            *(psi_statement(feature) for feature in MONITORED),
        ],
    )

    stable = quality_check(
        task_id="check_psi_below_0_25",
        table="ml.feature_drift",
        partition_column="drift_date",
        where="feature_group = 'customer_features'",
        min_rows=len(MONITORED),
        expressions={"psi_below_0_25": "MAX(psi) < 0.25"},
    )

    features >> compute >> stable
