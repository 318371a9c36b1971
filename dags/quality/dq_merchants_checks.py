"""Data quality: merchant dimension.

The merchant dimension drives risk decisions (monitoring programmes, high-risk MCC controls), so its
derived flags must agree with their inputs: a high-risk MCC merchant is not in the standard risk tier,
chargeback rates are ratios between 0 and 1 and the threshold flag agrees with the rate, and an
active merchant has been seen in payments in the last 90 days or is newly onboarded.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.quality import quality_check

with DAG(
    dag_id="dq_merchants_checks",
    description="Risk-tier, chargeback-rate and activity consistency of dim_merchants",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("30 8 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(owner="risk-data", retries=1, retry_delay=timedelta(minutes=10), severity="low"),
    tags=["quality", "merchants", "risk", "daily"],
):
    built = model_sensor(task_id="wait_for_dim_merchants", model="dim_merchants")

    checks = quality_check(
        task_id="check_merchants",
        table="marts.dim_merchants",
        partition_column=None,
        unique=["merchant_id"],
        accepted_values={"risk_tier": ["standard", "elevated", "high"]},
        expressions={
            "high_risk_mcc_not_standard": "COUNT_IF(is_high_risk_mcc AND risk_tier = 'standard') = 0",
            "chargeback_rate_is_ratio": "COUNT_IF(chargeback_rate < 0 OR chargeback_rate > 1) = 0",
            "threshold_flag_needs_rate": "COUNT_IF(is_above_chargeback_threshold AND chargeback_rate = 0) = 0",
            "active_merchants_recently_seen": (
                "COUNT_IF(merchant_status = 'active' AND COALESCE(last_payment_date, '1900-01-01') < "
                "'{{ macros.ds_add(ds, -90) }}' AND onboarded_at < '{{ macros.ds_add(ds, -90) }}') <= 0.05 * COUNT(*)"
            ),
        },
    )

    built >> checks
