"""ML features: monthly frozen snapshot of the training data for reproducibility.

Model risk management requires that any model in production can be re-trained on exactly the data it
was trained on. The lake's daily partitions can be restated, so at each month end the month's
partitions of the three training sources (customer features, AML features, card fraud scores) are
copied as parquet to the immutable ML snapshot stage (object lock, 7-year retention), one folder per
month and source.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.lake import partition_sensor
from common.partitions import MONTH_END, MONTH_START
from common.sql import unload_task

with DAG(
    dag_id="ml_training_snapshot_monthly",
    description="Month's partitions of customer_features, aml_features, card_fraud_scores -> ml_snapshots",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 12 3 * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 4, 3, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=10),
    default_args=default_args(owner="ml-platform", retries=2, retry_delay=timedelta(hours=1), severity="low"),
    tags=["ml", "training-data", "snapshots", "model-risk", "monthly"],
):
    month_complete = partition_sensor(
        task_id="wait_for_month_end_scores", table="lake.card_fraud_scores", partition=MONTH_END
    )

    for source in ("customer_features", "aml_features", "card_fraud_scores"):
        month_complete >> unload_task(
            task_id=f"snapshot_{source}",
            query=f"SELECT * FROM lake.{source} WHERE ds BETWEEN '{MONTH_START}' AND '{MONTH_END}'",
            stage="ml_snapshots",
            path=source,
            grain="monthly",
        )
