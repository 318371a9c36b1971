"""Reconciliation: card scheme fee invoices against the fees our volumes imply, monthly.

Visa and Mastercard invoice scheme fees (assessment, processing, cross-border) monthly, a few days
into the next month; finance drops both invoices in the landing area on the 8th, when this DAG loads
them; the fees we expect are recomputed from the
month's approved authorizations and the fee schedule in force. A difference above 0.5% per network
and fee currency blocks the invoice approval until card operations explains it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.landing import copy_into_raw, landing_sensor
from common.reconciliation import reconciliation_check
from common.sql import sql_task

# The run for month M starts on the 8th of M+1, the end of its data interval; finance drops the two
# schemes' invoices for M in the landing area that day.
INVOICE_DAY = "{{ data_interval_end | ds }}"

with DAG(
    dag_id="recon_scheme_fees_monthly",
    description="Scheme fee invoices vs fees implied by fct_card_authorizations and the fee schedule",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 7 8 * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 4, 8, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(days=3),
    default_args=default_args(owner="finance-reporting", retries=1, retry_delay=timedelta(hours=1)),
    tags=["reconciliation", "cards", "fees", "monthly", "finance"],
):
    invoices = landing_sensor(
        task_id="wait_for_scheme_invoices",
        source="scheme_invoices",
        pattern="*_scheme_fees_*.csv",
        min_files=2,
        delivery_date=INVOICE_DAY,
        poke_interval=timedelta(hours=1),
        timeout=timedelta(days=2),
    )
    load = copy_into_raw(
        task_id="load_invoice_lines",
        source="scheme_invoices",
        dataset="scheme_fee_invoices",
        file_format="json_lines",
        delivery_date=INVOICE_DAY,
    )

    expected = sql_task(
        task_id="compute_expected_fees",
        sql=[
            "DELETE FROM finance.expected_scheme_fees WHERE period_start = '{{ data_interval_start.start_of('month') | ds }}'",
            "INSERT INTO finance.expected_scheme_fees (period_start, network, currency_code, expected_fee)\n"
            "SELECT '{{ data_interval_start.start_of('month') | ds }}', a.network, a.currency_code,\n"
            "  SUM(a.amount * f.rate_bps / 10000 + f.fixed_fee)\n"
            "FROM marts.fct_card_authorizations a\n"
            "JOIN finance.scheme_fee_schedule f\n"
            "  ON f.network = a.network AND f.fee_type = 'assessment'\n"
            " AND a.authorized_date BETWEEN f.effective_from AND COALESCE(f.effective_to, '9999-12-31')\n"
            "WHERE a.is_approved\n"
            "  AND a.authorized_date BETWEEN '{{ data_interval_start.start_of('month') | ds }}'\n"
            "                            AND '{{ data_interval_start.end_of('month') | ds }}'\n"
            "GROUP BY a.network, a.currency_code",
        ],
    )

    recon = reconciliation_check(
        task_id="invoiced_vs_expected_fees",
        grain="monthly",
        left={
            "table": "finance.expected_scheme_fees",
            "date_column": "period_start",
            "keys": {"network": "network", "currency_code": "currency_code"},
            "measure": "SUM(expected_fee)",
        },
        right={
            "table": "raw.scheme_fee_invoices",
            "date_column": "TO_DATE(record:billing_period_start::string)",
            "keys": {"network": "LOWER(record:network::string)", "currency_code": "record:currency::string"},
            "measure": "SUM(record:amount::number(18, 2))",
        },
        tolerance_ratio=0.005,
    )

    invoices >> load >> recon
    expected >> recon
