"""ML features: parity between the online feature store and the offline features.

The online store is written by the ingestion pipeline from the daily exports; if an ingestion fails
silently, the decision services read stale features. The online store exports a nightly snapshot of
the customer profile feature group; it is loaded and compared with the offline values of the same day:
the customer counts per segment must match exactly and the aggregate of the 90-day payment amount
within 0.1%.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.landing import copy_into_raw, landing_sensor
from common.reconciliation import reconciliation_check

with DAG(
    dag_id="ml_feature_store_parity_daily",
    description="Online feature store snapshot vs lake.customer_features, per customer segment",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 10 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 5, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(owner="ml-platform", retries=2, retry_delay=timedelta(minutes=15)),
    tags=["ml", "feature-store", "parity", "daily"],
):
    online = landing_sensor(
        task_id="wait_for_online_snapshot",
        source="feature_store_online",
        pattern="customer_profile_v3_*.parquet",
        timeout=timedelta(hours=3),
    )
    load = copy_into_raw(
        task_id="load_online_snapshot",
        source="feature_store_online",
        dataset="online_customer_profile",
        file_format="parquet",
    )

    counts = reconciliation_check(
        task_id="online_vs_offline_counts",
        left={
            "table": "lake.customer_features",
            "date_column": "ds",
            "keys": {"feature_date": "feature_date"},
            "measure": "COUNT(*)",
        },
        right={
            "table": "raw.online_customer_profile",
            "date_column": "load_ds",
            "keys": {"feature_date": "record:event_date::date"},
            "measure": "COUNT(*)",
        },
    )
    amounts = reconciliation_check(
        task_id="online_vs_offline_amounts",
        left={
            "table": "lake.customer_features",
            "date_column": "ds",
            "keys": {"feature_date": "feature_date"},
            "measure": "SUM(payments_amount_usd_90d)",
        },
        right={
            "table": "raw.online_customer_profile",
            "date_column": "load_ds",
            "keys": {"feature_date": "record:event_date::date"},
            "measure": "SUM(record:payments_amount_usd_90d::number(18, 2))",
        },
        tolerance_ratio=0.001,
    )

    online >> load >> [counts, amounts]
