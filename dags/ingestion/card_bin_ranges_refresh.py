"""Cards: weekly refresh of the card BIN (issuer identification) ranges.

Visa's ARDEF and Mastercard's MPE BIN tables tell, for a card number range, the issuing country,
product (consumer, commercial, prepaid) and funding source. Merchant enrichment and the interchange
calculation both depend on them. Both schemes republish weekly; the files land on Sunday.

A BIN table that loses more than 1% of its ranges is rejected: stale BINs are better than missing
ones, because a missing BIN turns into the wrong interchange rate.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.defaults import default_args
from common.landing import copy_into_raw, landing_sensor
from common.quality import quality_check

with DAG(
    dag_id="card_bin_ranges_refresh",
    description="Visa ARDEF and Mastercard MPE BIN tables -> raw.card_bin_ranges, weekly",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 9 * * 0", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 7, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=12),
    default_args=default_args(owner="cards-data", retries=2, retry_delay=timedelta(hours=1), severity="low"),
    tags=["ingestion", "cards", "reference-data", "weekly", "external"],
):
    ardef = landing_sensor(
        task_id="wait_for_visa_ardef", source="visa_ardef", pattern="ARDEF*.txt", timeout=timedelta(hours=10)
    )
    mpe = landing_sensor(
        task_id="wait_for_mastercard_mpe", source="mastercard_mpe", pattern="MPE_*.dat", timeout=timedelta(hours=10)
    )

    load_visa = copy_into_raw(
        task_id="load_visa_bins", source="visa_ardef", dataset="card_bin_ranges", file_format="json_lines"
    )
    load_mc = copy_into_raw(
        task_id="load_mastercard_bins", source="mastercard_mpe", dataset="card_bin_ranges", file_format="json_lines"
    )

    no_shrink = quality_check(
        task_id="check_visa_ranges_kept",
        table="raw.card_bin_ranges",
        partition_column="load_ds",
        where="source = 'visa_ardef'",
        min_rows=100_000,
        expressions={
            "ranges_not_shrunk": (
                "COUNT(*) >= 0.99 * (SELECT COUNT(*) FROM raw.card_bin_ranges p "
                "WHERE p.source = 'visa_ardef' AND p.load_ds = '{{ macros.ds_add(ds, -7) }}')"
            ),
        },
    )

    ardef >> load_visa >> no_shrink
    mpe >> load_mc
