"""Compliance: monthly AML management information for the MLRO's board report.

The Money Laundering Reporting Officer reports monthly to the board risk committee: customers by risk
band, currency transaction report triggers, enhanced due diligence triggers, SAR candidates reviewed,
high-risk corridor activity. rpt_regulatory_aml is rebuilt for the month (period vars), the figures
are exported, and the MLRO signs them off before they are released to the committee pack.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.approvals import sign_off
from common.dbt import dbt_task
from common.defaults import default_args
from common.partitions import MONTH_END, MONTH_START
from common.sql import sql_task, unload_task

with DAG(
    dag_id="report_aml_monthly_mi",
    description="Monthly AML MI from rpt_regulatory_aml, MLRO sign-off, released to the board pack",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 7 3 * *", timezone="Europe/London"),
    start_date=pendulum.datetime(2024, 3, 3, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(days=5),
    default_args=default_args(owner="compliance-data", retries=2, retry_delay=timedelta(minutes=20)),
    tags=["reporting", "aml", "compliance", "monthly", "board"],
):
    month = dbt_task(task_id="build_month", select="rpt_regulatory_aml", grain="monthly")

    figures = unload_task(
        task_id="export_mi_figures",
        query=(
            "SELECT kyc_status, COUNT(*) AS customers,\n"
            "       COUNT_IF(requires_ctr) AS ctr_triggers, COUNT_IF(requires_edd) AS edd_triggers,\n"
            "       COUNT_IF(is_sar_candidate) AS sar_candidates,\n"
            "       SUM(high_risk_corridor_transfers) AS high_risk_corridor_transfers,\n"
            "       SUM(outbound_usd_period) AS outbound_usd\n"
            "FROM marts.rpt_regulatory_aml\n"
            f"WHERE report_date BETWEEN '{MONTH_START}' AND '{MONTH_END}'\n"
            "GROUP BY kyc_status"
        ),
        stage="compliance_reports",
        path="aml_monthly_mi",
        grain="monthly",
        file_format="csv",
        single_file=True,
    )

    approve = sign_off(
        task_id="mlro_sign_off",
        subject="AML monthly MI for {{ data_interval_start.strftime('%B %Y') }}",
        approver_role="MLRO",
        body="Figures: @compliance_reports/aml_monthly_mi/month={{ data_interval_start.strftime('%Y-%m') }}/",
        response_timeout=timedelta(days=4),
    )

    release = sql_task(
        task_id="release_to_board_pack",
        sql=[
            f"DELETE FROM compliance.board_pack_releases WHERE report = 'aml_monthly_mi' AND period_start = '{MONTH_START}'",
            "INSERT INTO compliance.board_pack_releases (report, period_start, period_end, released_by_run)\n"
            f"VALUES ('aml_monthly_mi', '{MONTH_START}', '{MONTH_END}', '{{{{ run_id }}}}')",
        ],
    )

    month >> figures >> approve >> release
