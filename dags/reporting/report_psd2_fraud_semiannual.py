"""Risk (UK entity): the semi-annual payment fraud report (FCA REP017).

Payment service providers report, for each half year, the volume and value of payment transactions
and of fraudulent ones, split by payment type (card payments, credit transfers), by channel (remote,
non-remote), by authentication (strong customer authentication or an exemption) and by fraud type. The
fraudulent transactions are the confirmed fraud alerts plus chargebacks with a fraud reason code.

The run of the half year ending 30 June starts on 10 July (and of December on 10 January), when the
half year's chargebacks have mostly arrived.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.approvals import sign_off
from common.defaults import default_args
from common.sql import unload_task

PERIOD_START = "{{ data_interval_start.start_of('month') | ds }}"
PERIOD_END = "{{ data_interval_end.start_of('month').subtract(days=1) | ds }}"

with DAG(
    dag_id="report_psd2_fraud_semiannual",
    description="REP017 payment fraud statistics for the half year, by payment type and channel",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 6 10 1,7 *", timezone="Europe/London"),
    start_date=pendulum.datetime(2024, 1, 10, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(days=20),
    default_args=default_args(owner="risk-data", retries=2, retry_delay=timedelta(hours=1)),
    tags=["reporting", "fraud", "fca", "rep017", "regulatory", "semiannual", "uk"],
):
    stats = unload_task(
        task_id="export_fraud_statistics",
        query=(
            "WITH card AS (\n"
            "  SELECT CASE WHEN a.entry_mode = 'ecommerce' THEN 'remote' ELSE 'non_remote' END AS channel,\n"
            "         COUNT(*) AS transactions, SUM(a.amount_usd) AS value_usd,\n"
            "         COUNT(f.alert_id) AS fraud_transactions, SUM(f.amount_usd) AS fraud_value_usd\n"
            "  FROM marts.fct_card_authorizations a\n"
            "  LEFT JOIN marts.fct_fraud_alerts f ON f.authorization_id = a.authorization_id AND f.priority = 'p1'\n"
            f"  WHERE a.is_approved AND a.authorized_date BETWEEN '{PERIOD_START}' AND '{PERIOD_END}'\n"
            "  GROUP BY 1\n"
            "), chargeback_fraud AS (\n"
            "  SELECT COUNT(*) AS fraud_chargebacks, SUM(amount_usd) AS fraud_chargeback_value_usd\n"
            "  FROM marts.fct_chargebacks\n"
            f"  WHERE reason_category = 'fraud' AND opened_date BETWEEN '{PERIOD_START}' AND '{PERIOD_END}'\n"
            ")\n"
            "SELECT 'card_payments' AS payment_type, card.*, chargeback_fraud.* FROM card CROSS JOIN chargeback_fraud"
        ),
        stage="regulatory_returns",
        path="fca_rep017",
        file_format="csv",
        single_file=True,
    )

    approve = sign_off(
        task_id="head_of_fraud_sign_off",
        subject="REP017 payment fraud report, half year ending {{ data_interval_end.start_of('month').subtract(days=1) | ds }}",
        approver_role="Head of Fraud Risk",
        response_timeout=timedelta(days=14),
    )

    stats >> approve
