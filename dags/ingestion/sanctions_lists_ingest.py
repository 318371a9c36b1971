"""Compliance: daily sanctions lists (OFAC SDN, UK financial sanctions, UN consolidated).

Payment and onboarding screening runs against these lists in the screening service; the platform keeps
a dated copy of each publication so that a screening decision can be explained against the list that
was in force that day (a regulatory expectation).

The sources publish only their current state, so the fetch of a business date is kept once it
succeeded (re-running the date does not overwrite it with a newer list) and the DAG does not catch up.
A list that shrinks by more than 5% in a day is suspicious (a truncated download) and fails the run.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.defaults import default_args
from common.landing import copy_into_raw, http_fetch
from common.quality import quality_check

with DAG(
    dag_id="sanctions_lists_ingest",
    description="OFAC SDN, UK OFSI and UN consolidated lists -> raw.sanctions_entries, dated copies",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 5 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(
        owner="compliance-data", retries=5, retry_delay=timedelta(minutes=10), backoff_multiplier=2, severity="critical"
    ),
    tags=["ingestion", "compliance", "sanctions", "external"],
):
    ofac = http_fetch(
        task_id="fetch_ofac_sdn",
        source="sanctions_ofac",
        url="https://www.treasury.gov/ofac/downloads/sdn.xml",
        filename="sdn.xml",
        keep_existing=True,
    )
    uk = http_fetch(
        task_id="fetch_uk_ofsi",
        source="sanctions_uk_ofsi",
        url="https://ofsistorage.blob.core.windows.net/publishlive/2022format/ConList.csv",
        filename="ConList.csv",
        keep_existing=True,
    )
    un = http_fetch(
        task_id="fetch_un_consolidated",
        source="sanctions_un",
        url="https://scsanctions.un.org/resources/xml/en/consolidated.xml",
        filename="consolidated.xml",
        keep_existing=True,
    )

    load_ofac = copy_into_raw(
        task_id="load_ofac", source="sanctions_ofac", dataset="sanctions_ofac", file_format="xml_document"
    )
    load_uk = copy_into_raw(
        task_id="load_uk", source="sanctions_uk_ofsi", dataset="sanctions_uk", file_format="json_lines"
    )
    load_un = copy_into_raw(
        task_id="load_un", source="sanctions_un", dataset="sanctions_un", file_format="xml_document"
    )

    not_truncated = quality_check(
        task_id="check_lists_not_truncated",
        table="raw.sanctions_uk",
        partition_column="load_ds",
        min_rows=3_000,
        expressions={
            "uk_list_not_shrunk": (
                "COUNT(*) >= 0.95 * (SELECT COUNT(*) FROM raw.sanctions_uk p "
                "WHERE p.load_ds = '{{ macros.ds_add(ds, -1) }}')"
            ),
        },
    )

    ofac >> load_ofac
    un >> load_un
    uk >> load_uk >> not_truncated
