"""Backfill utilities: the parameters and the guard of a backfill DAG.

A backfill DAG has no schedule; an engineer triggers it with a date range and a reason (the ticket),
and its tasks use the "range" grain (common.partitions), which runs the daily command once per day of
the range, oldest first. The guard task validates the range before anything runs:

    with DAG(..., schedule=None, params=range_params(max_days=93)):
        guard = check_range(task_id="check_range", max_days=93)
        guard >> spark_task(task_id="rerun", job="payments_clean", grain="range")
"""

from __future__ import annotations

from datetime import date
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import Param

from common.partitions import PARAM_END, PARAM_START

RUN_DAY = "{{ dag_run.run_after | ds }}"


def range_params(*, max_days: int, **extra: Param) -> dict[str, Param]:
    """The trigger form of a backfill: start and end date (inclusive), the reason, and `extra`."""
    return {
        "start_date": Param(type="string", format="date", title="First day", description="First partition to rebuild."),
        "end_date": Param(
            type="string",
            format="date",
            title="Last day",
            description=f"Last partition to rebuild (inclusive); at most {max_days} days after the first.",
        ),
        "reason": Param(
            type="string",
            minLength=8,
            title="Reason",
            description="Ticket and why the range is rebuilt; kept in the audit trail of the run.",
        ),
        **extra,
    }


def validate_range(start_date: str, end_date: str, run_day: str, max_days: int) -> int:
    """Raise ValueError unless start <= end < the run's day and the range spans at most `max_days`."""
    start, end, today = date.fromisoformat(start_date), date.fromisoformat(end_date), date.fromisoformat(run_day)
    if start > end:
        raise ValueError(f"start_date {start} is after end_date {end}")
    if end >= today:
        raise ValueError(f"end_date {end} is not a closed day yet (the run started on {today})")
    days = (end - start).days + 1
    if days > max_days:
        raise ValueError(f"{days} days requested; this backfill rebuilds at most {max_days} days per run")
    return days


def check_range(task_id: str, *, max_days: int, **operator_kwargs: Any) -> PythonOperator:
    """The guard task of a backfill DAG."""
    if max_days < 1:
        raise ValueError("max_days is at least 1")
    return PythonOperator(
        task_id=task_id,
        python_callable=validate_range,
        op_kwargs={"start_date": PARAM_START, "end_date": PARAM_END, "run_day": RUN_DAY, "max_days": max_days},
        doc_md=f"Validates the requested range (at most {max_days} days, closed days only).",
        **operator_kwargs,
    )
