"""Cards: the Visa Quarterly Operating Certificate (QOC).

Each quarter, Visa members certify their issuing and acquiring volumes: transaction counts and values
by product, by domestic / intra-regional / inter-regional, and by card-present versus card-not-present.
The QOC is due 45 days after quarter end; the run starts on the 5th of the next quarter and the head
of card operations certifies the figures.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.approvals import sign_off
from common.defaults import default_args
from common.sql import unload_task

QUARTER_START = "{{ data_interval_start.start_of('month') | ds }}"
QUARTER_END = "{{ data_interval_end.start_of('month').subtract(days=1) | ds }}"

with DAG(
    dag_id="report_visa_qoc_quarterly",
    description="Visa QOC volumes by product, region and presence for the quarter, certified",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 6 5 1,4,7,10 *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 4, 5, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(days=30),
    default_args=default_args(owner="cards-data", retries=2, retry_delay=timedelta(hours=1)),
    tags=["reporting", "cards", "visa", "qoc", "quarterly", "scheme"],
):
    volumes = unload_task(
        task_id="export_qoc_volumes",
        query=(
            "SELECT CASE WHEN a.entry_mode = 'ecommerce' THEN 'card_not_present' ELSE 'card_present' END AS presence,\n"
            "       CASE WHEN m.country_code = p.country_code THEN 'domestic' ELSE 'cross_border' END AS geography,\n"
            "       a.currency_code, COUNT(*) AS transactions, SUM(a.amount_usd) AS value_usd\n"
            "FROM marts.fct_card_authorizations a\n"
            "LEFT JOIN marts.fct_payments p ON p.payment_id = a.payment_id\n"
            "LEFT JOIN marts.dim_merchants m ON m.merchant_id = a.merchant_id\n"
            "WHERE a.network = 'visa' AND a.is_approved\n"
            f"  AND a.authorized_date BETWEEN '{QUARTER_START}' AND '{QUARTER_END}'\n"
            "GROUP BY 1, 2, 3"
        ),
        stage="scheme_reports",
        path="visa_qoc",
        file_format="csv",
        single_file=True,
    )

    certify = sign_off(
        task_id="certify_qoc",
        subject="Visa QOC for the quarter ending " + QUARTER_END,
        approver_role="Head of Card Operations",
        response_timeout=timedelta(days=25),
    )

    volumes >> certify
