"""Failure callbacks and deadline (SLA) alerts.

Alerts are emitted as one JSON line on the `finsight.alerts` logger. The CloudWatch subscription on the
Airflow task and triggerer log groups forwards those lines to the alert router, which pages the owning
team's on-call rotation (severity `critical`) or posts to its channel (`high`, `low`). Callbacks never
raise: an alerting problem must not mask the task failure that triggered it.

    default_args(owner="ledger-data", severity="critical")          # failure callback on every task
    DAG(..., deadline=deadline(within=timedelta(hours=3), team="ledger-data"))
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from functools import partial
from typing import Any

from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

SEVERITIES = ("critical", "high", "low")

log = logging.getLogger("finsight.alerts")


def alert_payload(context: dict[str, Any], *, severity: str, kind: str) -> dict[str, Any]:
    """The fields of an alert, read from an Airflow task or run context (missing keys become None)."""
    ti = context.get("task_instance") or context.get("ti")
    dag_run = context.get("dag_run")
    task = context.get("task")
    exception = context.get("exception")
    return {
        "kind": kind,
        "severity": severity,
        "dag_id": getattr(dag_run, "dag_id", None) or getattr(ti, "dag_id", None),
        "task_id": getattr(ti, "task_id", None),
        "run_id": getattr(dag_run, "run_id", None) or getattr(ti, "run_id", None),
        "logical_date": str(context.get("logical_date")) if context.get("logical_date") else None,
        "try_number": getattr(ti, "try_number", None),
        "owner": getattr(task, "owner", None),
        "error": f"{type(exception).__name__}: {exception}" if exception else None,
    }


def emit(payload: dict[str, Any]) -> None:
    """Write one alert line; the log pipeline does the routing."""
    log.error("FINSIGHT_ALERT %s", json.dumps(payload, sort_keys=True, default=str))


def on_task_failure(context: dict[str, Any], *, severity: str = "high") -> None:
    """Task failure callback: alert with the failing task's coordinates."""
    try:
        emit(alert_payload(context, severity=severity, kind="task_failed"))
    except Exception:  # an alert must never turn into a second failure
        log.exception("could not emit the failure alert")


def failure_callback(severity: str):
    """`on_task_failure` bound to a severity, for default_args."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    return partial(on_task_failure, severity=severity)


async def deadline_missed(*, team: str, severity: str, promise: str, context: dict[str, Any] | None = None) -> None:
    """Deadline callback (runs in the triggerer): the run has not finished within its promise."""
    payload = alert_payload(context or {}, severity=severity, kind="deadline_missed")
    payload.update({"team": team, "promise": promise})
    emit(payload)


def deadline(
    *,
    within: timedelta,
    team: str,
    severity: str = "high",
    measured_from: str = "queued",
) -> DeadlineAlert:
    """A DeadlineAlert: alert `team` when a run has not finished `within` after it was queued.

    `measured_from="logical_date"` measures from the run's logical date instead; with data-interval
    timetables that is the start of the interval, so `within` includes the interval's length.
    """
    references = {
        "queued": DeadlineReference.DAGRUN_QUEUED_AT,
        "logical_date": DeadlineReference.DAGRUN_LOGICAL_DATE,
    }
    if measured_from not in references:
        raise ValueError(f"measured_from must be one of {sorted(references)}, got {measured_from!r}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    if within <= timedelta(0):
        raise ValueError("a deadline must be positive")
    promise = f"finish within {within} of {measured_from.replace('_', ' ')}"
    return DeadlineAlert(
        reference=references[measured_from],
        interval=within,
        callback=AsyncCallback(
            deadline_missed,
            kwargs={"team": team, "severity": severity, "promise": promise},
        ),
    )
