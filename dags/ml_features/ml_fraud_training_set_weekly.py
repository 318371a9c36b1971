"""ML features: weekly point-in-time training set for the card fraud model.

A card authorization's fraud label is only known once the chargeback window has passed, so the
training set of a week is built from authorizations 120 to 126 days old, labelled with fraud
chargebacks (reason category `fraud`) and confirmed p1 fraud alerts, and joined with the customer
features as they were the day before each authorization (point in time, no leakage from the
future). The set is written as parquet for the training pipeline; the week's folder is replaced when
the week is re-run.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.sql import unload_task

WINDOW_START = "{{ macros.ds_add(ds, -126) }}"
WINDOW_END = "{{ macros.ds_add(ds, -120) }}"

with DAG(
    dag_id="ml_fraud_training_set_weekly",
    description="Authorizations 120-126 days old, fraud labels, point-in-time customer features",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 4 * * 1", timezone="UTC"),
    start_date=pendulum.datetime(2024, 6, 3, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    default_args=default_args(owner="ml-platform", retries=2, retry_delay=timedelta(minutes=30), severity="low"),
    tags=["ml", "training-data", "fraud", "weekly"],
):
    chargebacks = model_sensor(task_id="wait_for_chargebacks", model="fct_chargebacks")

    training_set = unload_task(
        task_id="export_training_set",
        query=(
            "SELECT a.authorization_id, a.authorized_at, a.network, a.entry_mode, a.mcc, a.amount_usd,\n"
            "       a.fraud_score AS production_score, f.tenure_days, f.payments_count_90d,\n"
            "       f.payments_amount_usd_90d, f.max_fraud_score_90d,\n"
            "       (c.chargeback_id IS NOT NULL OR al.alert_id IS NOT NULL) AS is_fraud\n"
            "FROM marts.fct_card_authorizations a\n"
            "LEFT JOIN marts.fct_chargebacks c ON c.payment_id = a.payment_id AND c.reason_category = 'fraud'\n"
            "LEFT JOIN marts.fct_fraud_alerts al ON al.authorization_id = a.authorization_id AND al.priority = 'p1'\n"
            "LEFT JOIN lake.customer_features f\n"
            "  ON f.customer_id = (SELECT d.customer_id FROM marts.dim_accounts d WHERE d.account_id = a.account_id)\n"
            " AND f.ds = DATEADD('day', -1, a.authorized_date)::varchar\n"
            f"WHERE a.is_approved AND a.authorized_date BETWEEN '{WINDOW_START}' AND '{WINDOW_END}'"
        ),
        stage="ml_training",
        path="card_fraud/training_set",
    )

    chargebacks >> training_set
