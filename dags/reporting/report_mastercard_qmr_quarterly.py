"""Cards: the Mastercard Quarterly Report (QMR).

Mastercard's QMR collects, per quarter, acquiring activity by merchant category group and by
transaction type (purchases, refunds, chargebacks), with chargeback counts and values; unlike the Visa
QOC it reports refunds and chargebacks separately, so it joins the chargeback fact. Due 30 days after
quarter end.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.approvals import sign_off
from common.dbt import model_sensor
from common.defaults import default_args
from common.sql import unload_task

QUARTER_START = "{{ data_interval_start.start_of('month') | ds }}"
QUARTER_END = "{{ data_interval_end.start_of('month').subtract(days=1) | ds }}"

with DAG(
    dag_id="report_mastercard_qmr_quarterly",
    description="Mastercard QMR: purchases, refunds and chargebacks by merchant category group",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 6 3 1,4,7,10 *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 4, 3, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(days=25),
    default_args=default_args(owner="cards-data", retries=2, retry_delay=timedelta(hours=1)),
    tags=["reporting", "cards", "mastercard", "qmr", "quarterly", "scheme"],
):
    chargebacks = model_sensor(
        task_id="wait_for_quarter_end_chargebacks", model="fct_chargebacks", run_date=QUARTER_END
    )

    report = unload_task(
        task_id="export_qmr",
        query=(
            "WITH purchases AS (\n"
            "  SELECT p.category_group, COUNT(*) AS purchases, SUM(p.amount_usd) AS purchase_value_usd,\n"
            "         COUNT_IF(p.is_refunded) AS refunds\n"
            "  FROM marts.fct_payments p\n"
            "  JOIN marts.fct_card_authorizations a ON a.payment_id = p.payment_id AND a.network = 'mastercard'\n"
            f"  WHERE p.payment_date BETWEEN '{QUARTER_START}' AND '{QUARTER_END}' AND p.is_successful\n"
            "  GROUP BY 1\n"
            "), disputes AS (\n"
            "  SELECT m.category_group, COUNT(*) AS chargebacks, SUM(c.amount_usd) AS chargeback_value_usd\n"
            "  FROM marts.fct_chargebacks c JOIN marts.dim_merchants m ON m.merchant_id = c.merchant_id\n"
            f"  WHERE c.network = 'mastercard' AND c.opened_date BETWEEN '{QUARTER_START}' AND '{QUARTER_END}'\n"
            "  GROUP BY 1\n"
            ")\n"
            "SELECT COALESCE(purchases.category_group, disputes.category_group) AS category_group,\n"
            "       purchases.purchases, purchases.purchase_value_usd, purchases.refunds,\n"
            "       disputes.chargebacks, disputes.chargeback_value_usd\n"
            "FROM purchases FULL OUTER JOIN disputes ON disputes.category_group = purchases.category_group"
        ),
        stage="scheme_reports",
        path="mastercard_qmr",
        file_format="csv",
        single_file=True,
    )

    certify = sign_off(
        task_id="certify_qmr",
        subject="Mastercard QMR for the quarter ending " + QUARTER_END,
        approver_role="Head of Card Operations",
        response_timeout=timedelta(days=20),
    )

    chargebacks >> report >> certify
