"""Compliance: the quarterly customer risk review list.

High and critical risk customers get an enhanced due diligence refresh every year and a review
whenever their risk score moves into one of those bands. Each quarter the list of customers due for review is frozen:
customers in the high or critical band today, customers whose band rose during the quarter, and high-risk
customers whose last review is more than eleven months old. Compliance works the list during the
quarter; freezing it makes the quarter's review population auditable.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.quality import quality_check
from common.sql import sql_task

QUARTER_START = "{{ data_interval_start.start_of('month') | ds }}"

with DAG(
    dag_id="report_customer_risk_review_quarterly",
    description="Freeze the quarter's customer risk review population from rpt_customer_risk_scores",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 9 1 1,4,7,10 *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 4, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(days=1),
    default_args=default_args(owner="compliance-data", retries=2, retry_delay=timedelta(minutes=30)),
    tags=["reporting", "compliance", "risk", "edd", "quarterly"],
):
    scores = model_sensor(
        task_id="wait_for_quarter_end_scores",
        model="rpt_customer_risk_scores",
        run_date="{{ data_interval_end.start_of('month').subtract(days=1) | ds }}",
    )

    freeze = sql_task(
        task_id="freeze_review_population",
        sql=[
            f"DELETE FROM compliance.risk_review_population WHERE quarter_start = '{QUARTER_START}'",
            "INSERT INTO compliance.risk_review_population (quarter_start, customer_id, risk_score, risk_band, reason)\n"
            f"SELECT '{QUARTER_START}', s.customer_id, s.risk_score, s.risk_band,\n"
            "  CASE WHEN h.customer_id IS NULL THEN 'moved_to_high'\n"
            "       ELSE 'annual_edd_refresh' END\n"
            "FROM marts.rpt_customer_risk_scores s\n"
            "LEFT JOIN compliance.risk_review_population h\n"
            "  ON h.customer_id = s.customer_id\n"
            " AND h.quarter_start = '{{ data_interval_start.start_of('month').subtract(months=3) | ds }}'\n"
            "LEFT JOIN compliance.edd_reviews r ON r.customer_id = s.customer_id\n"
            "WHERE s.risk_band IN ('high', 'critical')\n"
            "  AND (h.customer_id IS NULL\n"
            "       OR COALESCE(r.last_review_date, '1900-01-01') < '{{ data_interval_end.subtract(months=11) | ds }}')",
        ],
    )

    sane = quality_check(
        task_id="check_population",
        table="compliance.risk_review_population",
        partition_column="quarter_start",
        unique=["customer_id"],
        accepted_values={"reason": ["moved_to_high", "annual_edd_refresh"]},
    )

    scores >> freeze >> sane
