"""ML features: sync of the customer risk scores to the online decision services.

The card limits and payment decision services read each customer's risk band from the online feature
store. Unlike the other exports, a customer whose band did not change is not re-sent: only the changes
since the previous day are exported (upserts, and deletes for customers no longer scored), which keeps
the online store's write volume small and its change log readable for audits.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.sql import sql_task, unload_task

with DAG(
    dag_id="ml_risk_scores_online_sync_daily",
    description="Changed customer risk bands since yesterday -> online feature store (customer_risk_v2)",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("15 8 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 5, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(owner="ml-platform", retries=3, retry_delay=timedelta(minutes=5)),
    tags=["ml", "feature-store", "online", "risk", "daily"],
):
    scores = model_sensor(task_id="wait_for_risk_scores", model="rpt_customer_risk_scores")

    snapshot = sql_task(
        task_id="snapshot_scores",
        sql=[
            "DELETE FROM ml.customer_risk_history WHERE as_of = '{{ ds }}'",
            "INSERT INTO ml.customer_risk_history (as_of, customer_id, risk_score, risk_band)\n"
            "SELECT '{{ ds }}', customer_id, risk_score, risk_band FROM marts.rpt_customer_risk_scores",
        ],
    )

    changes = unload_task(
        task_id="export_changes",
        query=(
            "SELECT COALESCE(t.customer_id, y.customer_id) AS customer_id, t.risk_score, t.risk_band,\n"
            "       CASE WHEN t.customer_id IS NULL THEN 'DELETE' ELSE 'UPSERT' END AS operation\n"
            "FROM (SELECT * FROM ml.customer_risk_history WHERE as_of = '{{ ds }}') t\n"
            "FULL OUTER JOIN (SELECT * FROM ml.customer_risk_history WHERE as_of = '{{ macros.ds_add(ds, -1) }}') y\n"
            "  ON y.customer_id = t.customer_id\n"
            "WHERE t.customer_id IS NULL OR y.customer_id IS NULL OR t.risk_band <> y.risk_band\n"
            "   OR ABS(t.risk_score - y.risk_score) >= 1"
        ),
        stage="feature_store_ingest",
        path="customer_risk_v2_changes",
        file_format="json",
    )

    scores >> snapshot >> changes
