"""ML features: daily export of AML features for the transaction-monitoring model.

The transaction-monitoring model (a gradient-boosted classifier that ranks alerts for the
investigators) scores customers on the AML features and the account risk inputs. The day's features
are exported to the feature store's ingestion stage as feature group `aml_monitoring_v2`; the
model's batch scoring job starts when the folder's marker appears.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import dbt_task
from common.defaults import default_args
from common.lake import partition_sensor
from common.sql import unload_task

with DAG(
    dag_id="ml_aml_features_export_daily",
    description="stg_aml_features + int_account_risk_inputs -> feature store (aml_monitoring_v2)",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("15 5 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 4, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(owner="ml-platform", retries=2, retry_delay=timedelta(minutes=10)),
    tags=["ml", "features", "feature-store", "aml", "daily"],
):
    features = partition_sensor(task_id="wait_for_aml_features", table="lake.aml_features")

    inputs = dbt_task(task_id="refresh_risk_inputs", select="stg_aml_features int_account_risk_inputs")

    export = unload_task(
        task_id="export_aml_monitoring",
        query=(
            "SELECT customer_id, account_id, aml_feature_date AS event_date, txn_count_30d,\n"
            "       outbound_amount_usd_30d, high_risk_country_transfers_30d, is_structuring_suspected,\n"
            "       country_risk_score, is_sanctioned_country, kyc_status\n"
            "FROM intermediate.int_account_risk_inputs\n"
            "WHERE aml_feature_date = '{{ ds }}'"
        ),
        stage="feature_store_ingest",
        path="aml_monitoring_v2",
    )

    features >> inputs >> export
