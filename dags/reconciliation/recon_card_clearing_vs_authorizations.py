"""Reconciliation: card scheme clearing against our approved authorizations, per network.

Every approved authorization should be presented for clearing by the acquirer within a few days, and
every cleared transaction should have been authorized (except offline and force-post transactions).
Per network and currency, the count of yesterday's approved authorizations is compared with the
records in the scheme's clearing file of today; clearing lags, so a relative tolerance of 2% absorbs
authorizations presented a day later, and anything beyond it is investigated by card operations.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.reconciliation import reconciliation_check

with DAG(
    dag_id="recon_card_clearing_vs_authorizations",
    description="fct_card_authorizations (approved) vs Visa and Mastercard clearing record counts",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 12 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 3, 5, tz="UTC"),
    catchup=True,
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=6),
    default_args=default_args(owner="cards-data", retries=2, retry_delay=timedelta(minutes=20)),
    tags=["reconciliation", "cards", "clearing", "visa", "mastercard"],
):
    auths = model_sensor(task_id="wait_for_authorizations", model="fct_card_authorizations")

    visa = reconciliation_check(
        task_id="visa_clearing_vs_auths",
        left={
            "table": "marts.fct_card_authorizations",
            "date_column": "authorized_date",
            "keys": {"currency_code": "currency_code"},
            "measure": "COUNT(*)",
            "where": "is_approved AND network = 'visa'",
        },
        right={
            "table": "raw.visa_clearing",
            "date_column": "load_ds",
            "day": "{{ macros.ds_add(ds, 1) }}",
            "keys": {"currency_code": "record:source_currency::string"},
            "measure": "COUNT(*)",
            "where": "record:transaction_code::string IN ('05', '06', '07')",
        },
        tolerance_ratio=0.02,
    )
    mastercard = reconciliation_check(
        task_id="mastercard_clearing_vs_auths",
        left={
            "table": "marts.fct_card_authorizations",
            "date_column": "authorized_date",
            "keys": {"currency_code": "currency_code"},
            "measure": "COUNT(*)",
            "where": "is_approved AND network = 'mastercard'",
        },
        right={
            "table": "raw.mastercard_clearing",
            "date_column": "load_ds",
            "keys": {"currency_code": "record:de49_currency::string"},
            "measure": "COUNT(*)",
            "where": "record:mti::string = '1240' AND record:de24_function_code::string = '200'",
        },
        tolerance_ratio=0.02,
    )

    auths >> [visa, mastercard]
