"""ML features: merchant risk features for the merchant risk model.

The merchant risk model (used at merchant onboarding reviews and for reserve decisions) reads the
merchant's daily volume trend, refund share, chargeback rate and MCC risk. The intermediate models are
refreshed for the day and the features exported to the feature store as `merchant_risk_v1`, with
28-day aggregates computed at export.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import dbt_task, model_sensor
from common.defaults import default_args
from common.sql import unload_task

with DAG(
    dag_id="ml_merchant_risk_features_daily",
    description="int_merchant_daily_volume + int_chargeback_rates -> feature store (merchant_risk_v1)",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 7 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 5, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(owner="ml-platform", retries=2, retry_delay=timedelta(minutes=15), severity="low"),
    tags=["ml", "features", "feature-store", "merchants", "daily"],
):
    merchants = model_sensor(task_id="wait_for_dim_merchants", model="dim_merchants")

    refresh = dbt_task(task_id="refresh_merchant_inputs", select="int_merchant_daily_volume int_chargeback_rates")

    export = unload_task(
        task_id="export_merchant_risk",
        query=(
            "SELECT m.merchant_id, '{{ ds }}' AS event_date, m.mcc, m.is_high_risk_mcc, m.risk_tier,\n"
            "       m.chargeback_rate, SUM(v.gross_volume_usd) AS volume_usd_28d,\n"
            "       SUM(v.refunded_volume_usd) / NULLIF(SUM(v.gross_volume_usd), 0) AS refund_share_28d,\n"
            "       AVG(v.average_ticket_usd) AS average_ticket_usd_28d,\n"
            "       SUM(v.failed_payments_count) / NULLIF(SUM(v.payments_count), 0) AS failure_share_28d\n"
            "FROM marts.dim_merchants m\n"
            "LEFT JOIN intermediate.int_merchant_daily_volume v\n"
            "  ON v.merchant_id = m.merchant_id\n"
            " AND v.volume_date BETWEEN '{{ macros.ds_add(ds, -27) }}' AND '{{ ds }}'\n"
            "GROUP BY m.merchant_id, m.mcc, m.is_high_risk_mcc, m.risk_tier, m.chargeback_rate"
        ),
        stage="feature_store_ingest",
        path="merchant_risk_v1",
    )

    merchants >> refresh >> export
