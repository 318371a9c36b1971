"""Run control between DAGs.

    rerun_partition(task_id="rerun_payments_clean", dag_id="payments_clean_daily",
                    logical_date="{{ macros.ds_add(ds, -1) }}T00:30:00+00:00")

Consumers normally wait for data (common.lake.partition_sensor, common.dbt.model_sensor), not for
other DAGs. Two exceptions: a DAG that shares its schedule with the DAG whose whole run it follows
(`upstream_dag_sensor`, same logical date), and a correction: when late data lands in a partition that was already processed, the producing DAG's run
for that partition is re-run (reset and triggered again), which is safe because every task is
idempotent for its logical date.
"""

from __future__ import annotations

import re
from typing import Any

from datetime import timedelta

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.providers.standard.sensors.external_task import ExternalTaskSensor

_DAG_ID = re.compile(r"^[a-z][a-z0-9_]*$")


def rerun_partition(
    task_id: str, dag_id: str, logical_date: str, *, wait: bool = False, **operator_kwargs: Any
) -> TriggerDagRunOperator:
    """Re-run `dag_id` for `logical_date` (a template), replacing the existing run of that date."""
    if not _DAG_ID.match(dag_id):
        raise ValueError(f"dag ids are snake case, got {dag_id!r}")
    return TriggerDagRunOperator(
        task_id=task_id,
        trigger_dag_id=dag_id,
        logical_date=logical_date,
        reset_dag_run=True,
        wait_for_completion=wait,
        poke_interval=120,
        **operator_kwargs,
    )


def upstream_dag_sensor(
    task_id: str,
    dag_id: str,
    *,
    timeout: timedelta = timedelta(hours=6),
    **operator_kwargs: Any,
) -> ExternalTaskSensor:
    """Wait for the run of `dag_id` with the same logical date to succeed (both DAGs share a schedule)."""
    if not _DAG_ID.match(dag_id):
        raise ValueError(f"dag ids are snake case, got {dag_id!r}")
    return ExternalTaskSensor(
        task_id=task_id,
        external_dag_id=dag_id,
        external_task_id=None,
        allowed_states=["success"],
        failed_states=["failed"],
        mode="reschedule",
        poke_interval=300,
        timeout=timeout,
        **operator_kwargs,
    )
