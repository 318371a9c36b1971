"""Reconciliation: ageing and escalation of open reconciliation breaks.

Every reconciliation records its breaks in recon.breaks; dbt's rpt_reconciliation_breaks adds the
settlement-to-ledger breaks found by matching. Once a day both are aged: a break open for more than
three business days is escalated to the owning team's lead, one older than ten days to the financial
controller (it then appears in the monthly SOX control evidence). The run fails when a high-severity
break is older than five days, which pages finance-reporting.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import dbt_task
from common.defaults import default_args
from common.quality import quality_check
from common.sql import sql_task

with DAG(
    dag_id="recon_breaks_ageing",
    description="Age open breaks (recon.breaks + rpt_reconciliation_breaks), escalate at 3 and 10 days",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("30 9 * * 1-5", timezone="Europe/London"),
    start_date=pendulum.datetime(2024, 2, 1, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(owner="finance-reporting", retries=2, retry_delay=timedelta(minutes=10)),
    tags=["reconciliation", "breaks", "escalation", "sox"],
):
    matching_breaks = dbt_task(task_id="build_matching_breaks", select="rpt_reconciliation_breaks")

    escalate = sql_task(
        task_id="escalate_aged_breaks",
        sql=[
            "DELETE FROM recon.escalations WHERE escalated_on = '{{ ds }}'",
            "INSERT INTO recon.escalations (escalated_on, break_key, source, opened_on, age_days, level)\n"
            "WITH open_breaks AS (\n"
            "  SELECT break_key, recon_name AS source, MIN(period_start) AS opened_on FROM recon.breaks\n"
            "  WHERE period_start <= '{{ ds }}' GROUP BY break_key, recon_name\n"
            "  UNION ALL\n"
            "  SELECT break_id, source_system, MIN(detected_date) FROM marts.rpt_reconciliation_breaks\n"
            "  WHERE detected_date <= '{{ ds }}' GROUP BY break_id, source_system\n"
            ")\n"
            "SELECT '{{ ds }}', break_key, source, opened_on, DATEDIFF('day', opened_on, '{{ ds }}'::date),\n"
            "  CASE WHEN DATEDIFF('day', opened_on, '{{ ds }}'::date) > 10 THEN 'financial_controller' ELSE 'team_lead' END\n"
            "FROM open_breaks WHERE DATEDIFF('day', opened_on, '{{ ds }}'::date) > 3",
        ],
    )

    no_stale_high_severity = quality_check(
        task_id="check_no_stale_high_severity_breaks",
        table="marts.rpt_reconciliation_breaks",
        partition_column="detected_date",
        where="severity = 'high'",
        grain="daily",
        expressions={
            "none_older_than_5_days": (
                "NOT EXISTS (SELECT 1 FROM marts.rpt_reconciliation_breaks b WHERE b.severity = 'high' "
                "AND b.detected_date < '{{ macros.ds_add(ds, -5) }}')"
            ),
        },
    )

    matching_breaks >> escalate
    matching_breaks >> no_stale_high_severity
