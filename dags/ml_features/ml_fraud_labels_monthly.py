"""ML features: matured fraud labels, monthly.

Labels for the card fraud model mature when the chargeback window of the authorization has passed
(120 days). At the start of each month the labels of the latest fully matured month (four months
before the month that just ended) are written to ml.fraud_labels: fraud if a fraud chargeback or a confirmed p1 alert exists, legitimate
otherwise, with the label's source. The chargeback models are rebuilt for the run first so that the
late-arriving chargebacks of the window are in.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import dbt_task
from common.defaults import default_args
from common.lake import partition_sensor
from common.quality import quality_check
from common.sql import sql_task

# The run of 2 June covers May (its data interval); the labels it writes are January's, the latest
# month whose every authorization is more than 120 days old on 2 June.
LABEL_MONTH_START = "{{ data_interval_start.start_of('month').subtract(months=4) | ds }}"
LABEL_MONTH_END = "{{ data_interval_start.start_of('month').subtract(months=4).end_of('month') | ds }}"

with DAG(
    dag_id="ml_fraud_labels_monthly",
    description="Fraud labels for the latest month whose authorizations are all 120+ days old",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 5 2 * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 6, 2, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=8),
    default_args=default_args(owner="risk-data", retries=2, retry_delay=timedelta(minutes=30)),
    tags=["ml", "fraud", "labels", "monthly"],
):
    chargebacks = partition_sensor(
        task_id="wait_for_month_end_chargebacks",
        table="lake.chargebacks",
        partition="{{ data_interval_start.end_of('month') | ds }}",
    )

    rebuild = dbt_task(task_id="rebuild_chargebacks", select="stg_chargebacks fct_chargebacks", grain="monthly")

    labels = sql_task(
        task_id="write_labels",
        sql=[
            f"DELETE FROM ml.fraud_labels WHERE authorized_date BETWEEN '{LABEL_MONTH_START}' AND '{LABEL_MONTH_END}'",
            "INSERT INTO ml.fraud_labels (authorization_id, authorized_date, is_fraud, label_source)\n"
            "SELECT a.authorization_id, a.authorized_date,\n"
            "       c.chargeback_id IS NOT NULL OR al.alert_id IS NOT NULL,\n"
            "       CASE WHEN c.chargeback_id IS NOT NULL THEN 'fraud_chargeback'\n"
            "            WHEN al.alert_id IS NOT NULL THEN 'confirmed_alert' ELSE 'no_fraud_signal' END\n"
            "FROM marts.fct_card_authorizations a\n"
            "LEFT JOIN marts.fct_chargebacks c ON c.payment_id = a.payment_id AND c.reason_category = 'fraud'\n"
            "LEFT JOIN marts.fct_fraud_alerts al ON al.authorization_id = a.authorization_id AND al.priority = 'p1'\n"
            f"WHERE a.is_approved AND a.authorized_date BETWEEN '{LABEL_MONTH_START}' AND '{LABEL_MONTH_END}'",
        ],
    )

    fraud_rate = quality_check(
        task_id="check_fraud_rate",
        table="ml.fraud_labels",
        partition_column=None,
        where=f"authorized_date BETWEEN '{LABEL_MONTH_START}' AND '{LABEL_MONTH_END}'",
        min_rows=1_000,
        expressions={"fraud_rate_plausible": "COUNT_IF(is_fraud) BETWEEN 0.0001 * COUNT(*) AND 0.01 * COUNT(*)"},
    )

    chargebacks >> rebuild >> labels >> fraud_rate
