"""Cards: monthly refresh of merchant category codes (ISO 18245) and our risk classes.

The MCC list with the schemes' descriptions comes monthly from the card schemes' merchant data
standards; compliance maintains the risk class of each MCC (gambling, crypto, money transfer and
quasi-cash codes are high risk) in the same delivery. merchant_enrichment joins on it.

The codes that the high-risk rules and the chargeback monitoring programmes rely on must be present.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.defaults import default_args
from common.landing import copy_into_raw, landing_sensor
from common.quality import quality_check

with DAG(
    dag_id="mcc_reference_refresh",
    description="Merchant category codes with compliance risk classes -> raw.merchant_category_codes",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 7 2 * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 2, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(days=2),
    default_args=default_args(owner="cards-data", retries=1, retry_delay=timedelta(hours=2), severity="low"),
    tags=["ingestion", "cards", "reference-data", "monthly"],
):
    delivered = landing_sensor(
        task_id="wait_for_mcc_delivery",
        source="mcc_reference",
        pattern="mcc_codes_*.csv",
        poke_interval=timedelta(hours=1),
        timeout=timedelta(days=2),
    )
    load = copy_into_raw(
        task_id="load_mcc_codes", source="mcc_reference", dataset="merchant_category_codes", file_format="json_lines"
    )
    check = quality_check(
        task_id="check_mcc_list",
        table="raw.merchant_category_codes",
        partition_column="load_ds",
        min_rows=900,
        expressions={
            "monitored_codes_present": (
                "COUNT(DISTINCT CASE WHEN record:mcc::string IN ('4829', '6011', '6051', '6211', '7995') "
                "THEN record:mcc::string END) = 5"
            ),
            "risk_class_set": "COUNT_IF(record:risk_class IS NULL) = 0",
        },
    )

    delivered >> load >> check
