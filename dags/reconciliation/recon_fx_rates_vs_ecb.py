"""Reconciliation: our closing FX rates against the ECB reference rates.

Our closing rates are quoted as USD per unit of currency; the ECB quotes units of currency per EUR.
For every currency the ECB publishes, the implied USD rate (EUR/USD divided by EUR/currency) must be
within 0.5% of our closing rate of the same day: a larger gap means a stale or fat-fingered rate in
the pricing service, which would misstate every converted amount of the day.

The ECB publishes at about 16:00 CET and we cut at 22:00 UTC, so the rates are not from the same
instant; 0.5% is the tolerance treasury accepts for that. TARGET holidays have no ECB rates and the
check passes vacuously.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from common.defaults import default_args
from common.lake import partition_sensor
from common.quality import quality_check
from common.sql import sql_task

with DAG(
    dag_id="recon_fx_rates_vs_ecb",
    description="lake.fx_rates_daily vs ECB reference rates (implied USD cross), 0.5% tolerance",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 23 * * 1-5", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 2, tz="UTC"),
    catchup=True,
    max_active_runs=3,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(owner="treasury-data", retries=2, retry_delay=timedelta(minutes=10)),
    tags=["reconciliation", "fx", "treasury", "ecb"],
):
    ours = partition_sensor(task_id="wait_for_closing_rates", table="lake.fx_rates_daily", timeout=timedelta(hours=1))

    compare = sql_task(
        task_id="compare_with_ecb",
        sql=[
            "DELETE FROM recon.fx_rate_deviations WHERE rate_date = '{{ ds }}'",
            "INSERT INTO recon.fx_rate_deviations (rate_date, currency_code, our_rate_usd, ecb_implied_usd, deviation)\n"
            "WITH ecb AS (\n"
            "  SELECT record:CURRENCY::string AS currency_code, record:OBS_VALUE::number(18, 8) AS per_eur\n"
            "  FROM raw.ecb_reference_rates WHERE load_ds = '{{ ds }}'\n"
            "), eur_usd AS (SELECT per_eur FROM ecb WHERE currency_code = 'USD')\n"
            "SELECT '{{ ds }}', f.base_currency, f.rate, eur_usd.per_eur / ecb.per_eur,\n"
            "  ABS(f.rate - eur_usd.per_eur / ecb.per_eur) / (eur_usd.per_eur / ecb.per_eur)\n"
            "FROM lake.fx_rates_daily f\n"
            "JOIN ecb ON ecb.currency_code = f.base_currency CROSS JOIN eur_usd\n"
            "WHERE f.ds = '{{ ds }}' AND f.quote_currency = 'USD'",
        ],
    )

    within_tolerance = quality_check(
        task_id="check_deviation_below_half_percent",
        table="recon.fx_rate_deviations",
        partition_column="rate_date",
        expressions={"max_deviation_below_0_5pct": "COALESCE(MAX(deviation), 0) <= 0.005"},
    )

    ours >> compare >> within_tolerance
