"""Data quality (privacy): no personal data in free-text columns of the marts.

The marts are open to every analyst; personal data lives in the customer systems and is joined in
only through customer_id. Free-text columns fed by operators or partners (KYC reasons, chargeback
descriptions, review reasons) occasionally carry an e-mail address, a phone number or an IBAN. Each
week the text columns are scanned; a hit is a data incident for the privacy team (GDPR), raised at
high severity.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.defaults import default_args
from common.quality import quality_check

EMAIL = "'.*[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}.*'"
IBAN = "'.*[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}.*'"
PHONE = "'.*[+][0-9]{10,14}.*'"

with DAG(
    dag_id="dq_pii_leak_scan",
    description="Weekly scan of mart text columns for e-mail addresses, IBANs and phone numbers",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 3 * * 2", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 2, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(owner="data-platform", retries=1, retry_delay=timedelta(minutes=30)),
    tags=["quality", "privacy", "gdpr", "weekly"],
):
    kyc = quality_check(
        task_id="scan_kyc_reasons",
        table="intermediate.int_kyc_status_latest",
        partition_column=None,
        expressions={
            "no_email": f"COUNT_IF(REGEXP_LIKE(latest_reason, {EMAIL})) = 0",
            "no_phone": f"COUNT_IF(REGEXP_LIKE(latest_reason, {PHONE})) = 0",
        },
    )
    chargebacks = quality_check(
        task_id="scan_chargeback_descriptions",
        table="marts.fct_chargebacks",
        partition_column=None,
        where="opened_date >= '{{ macros.ds_add(ds, -7) }}'",
        expressions={
            "no_email": f"COUNT_IF(REGEXP_LIKE(reason_description, {EMAIL})) = 0",
            "no_iban": f"COUNT_IF(REGEXP_LIKE(reason_description, {IBAN})) = 0",
        },
    )
    aml = quality_check(
        task_id="scan_aml_review_reasons",
        table="marts.rpt_regulatory_aml",
        partition_column=None,
        where="report_date >= '{{ macros.ds_add(ds, -7) }}'",
        expressions={"no_iban": f"COUNT_IF(REGEXP_LIKE(review_reasons, {IBAN})) = 0"},
    )
