"""FX: ECB euro foreign exchange reference rates, the independent check on our own closing rates.

The ECB publishes its reference rates around 16:00 CET on TARGET business days. The rates are fetched
for the business date from the ECB data portal (SDMX, CSV) and loaded into `raw.ecb_reference_rates`;
recon_fx_rates_vs_ecb compares them with lake.fx_rates_daily.

No rates are published on TARGET holidays: the fetch then returns no rows, which is not an error, so
the row check accepts an empty day and the reconciliation skips it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.defaults import default_args
from common.landing import copy_into_raw, http_fetch

with DAG(
    dag_id="ecb_reference_rates_ingest",
    description="ECB euro reference rates (SDMX EXR) -> raw.ecb_reference_rates, TARGET business days",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("30 16 * * 1-5", timezone="Europe/Berlin"),
    start_date=pendulum.datetime(2024, 1, 1, tz="Europe/Berlin"),
    catchup=True,
    max_active_runs=4,
    dagrun_timeout=timedelta(minutes=45),
    default_args=default_args(
        owner="treasury-data",
        retries=6,
        retry_delay=timedelta(minutes=10),
        backoff_multiplier=1.5,
        severity="low",
    ),
    tags=["ingestion", "fx", "treasury", "external", "ecb"],
):
    fetch = http_fetch(
        task_id="fetch_reference_rates",
        source="ecb_reference_rates",
        url=(
            "https://data-api.ecb.europa.eu/service/data/EXR/D..EUR.SP00.A"
            "?startPeriod={{ ds }}&endPeriod={{ ds }}&format=csvdata"
        ),
        filename="exr_{{ ds_nodash }}.csv",
    )

    load = copy_into_raw(
        task_id="load_reference_rates",
        source="ecb_reference_rates",
        dataset="ecb_reference_rates",
        file_format="json_lines",
        pattern=".*exr_.*[.]csv",
    )

    fetch >> load
