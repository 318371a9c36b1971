"""Data quality: structural integrity of the ledger fact.

Beyond the trial balance (recon_ledger_trial_balance), every ledger line must be well formed:

* exactly one of debit_amount and credit_amount is non-zero, and it equals amount;
* every journal has at least two lines;
* every GL account code exists in the chart of accounts (the fact's gl_account_name is then set);
* reversal lines (`adjustment`) do not post to revenue accounts without a source reference.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.dbt import model_sensor
from common.defaults import default_args
from common.quality import quality_check

with DAG(
    dag_id="dq_ledger_integrity",
    description="Line-level integrity of fct_ledger_entries for the day",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 5 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2023, 10, 1, tz="UTC"),
    catchup=True,
    max_active_runs=3,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(owner="ledger-data", retries=1, retry_delay=timedelta(minutes=10), severity="critical"),
    tags=["quality", "ledger", "sox", "daily"],
):
    built = model_sensor(task_id="wait_for_fct_ledger_entries", model="fct_ledger_entries")

    lines = quality_check(
        task_id="check_lines",
        table="marts.fct_ledger_entries",
        partition_column="effective_date",
        not_null=["entry_id", "journal_id", "gl_account_code", "gl_account_name", "currency_code"],
        unique=["entry_id"],
        accepted_values={"direction": ["debit", "credit"]},
        non_negative=["debit_amount", "credit_amount"],
        expressions={
            "one_side_per_line": "COUNT_IF((debit_amount > 0) = (credit_amount > 0)) = 0",
            "side_equals_amount": "COUNT_IF(debit_amount + credit_amount <> amount) = 0",
            "journals_have_two_lines": (
                "NOT EXISTS (SELECT 1 FROM marts.fct_ledger_entries j WHERE j.effective_date = '{{ ds }}' "
                "GROUP BY j.journal_id HAVING COUNT(*) < 2)"
            ),
            "adjustments_to_revenue_referenced": (
                "COUNT_IF(source_type = 'adjustment' AND account_class = 'revenue' AND source_id IS NULL) = 0"
            ),
        },
    )

    built >> lines
