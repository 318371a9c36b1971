"""Data quality (PCI DSS): no primary account number outside the card vault.

Card numbers never leave the tokenisation vault; the platform sees card tokens only (`crd_...`).
A PAN that leaks into the lake or the warehouse (a processor that puts the PAN in a free-text field, a
debugging change in the streaming job) brings the whole data platform into PCI scope, so every day
the text columns that could carry one are scanned for 13-19 digit sequences that pass the shape of a
card number, and card identifiers are checked to be tokens. Any hit pages cards-data (critical) and the
security team follows the PAN incident runbook.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.defaults import default_args
from common.quality import quality_check

PAN_PATTERN = "'.*(^|[^0-9])[2-6][0-9]{12,18}([^0-9]|$).*'"

with DAG(
    dag_id="dq_card_pan_leak_scan",
    description="Scan lake and marts text columns for card numbers; card ids must be tokens",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 8 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 2, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(owner="cards-data", retries=1, retry_delay=timedelta(minutes=15), severity="critical"),
    tags=["quality", "pci", "cards", "security", "daily"],
):
    raw_authorizations = quality_check(
        task_id="scan_raw_authorizations",
        table="lake.card_authorizations_raw",
        expressions={
            "card_ids_are_tokens": "COUNT_IF(card_id IS NOT NULL AND LEFT(card_id, 4) <> 'crd_') = 0",
            "no_pan_in_response_code": f"COUNT_IF(REGEXP_LIKE(response_code, {PAN_PATTERN})) = 0",
        },
    )
    payments = quality_check(
        task_id="scan_clean_payments",
        table="lake.payments_clean",
        expressions={"card_ids_are_tokens": "COUNT_IF(card_id IS NOT NULL AND LEFT(card_id, 4) <> 'crd_') = 0"},
    )
    merchants = quality_check(
        task_id="scan_merchant_names",
        table="marts.dim_merchants",
        partition_column=None,
        expressions={"no_pan_in_merchant_name": f"COUNT_IF(REGEXP_LIKE(merchant_name, {PAN_PATTERN})) = 0"},
    )
    alerts = quality_check(
        task_id="scan_fraud_alert_signals",
        table="marts.fct_fraud_alerts",
        partition_column=None,
        where="raised_at >= '{{ ds }}' AND raised_at < '{{ macros.ds_add(ds, 1) }}'",
        expressions={"no_pan_in_top_signal": f"COUNT_IF(REGEXP_LIKE(top_signal, {PAN_PATTERN})) = 0"},
    )
