"""partition_sensor: wait for a lake partition that a Spark batch job has committed.

    partition_sensor(task_id="wait_payments_clean", table="lake.payments_clean")
    partition_sensor(task_id="wait_prior_day_ledger", table="lake.ledger_entries", offset_days=-1)

Lake tables live at `$FINSIGHT_LAKE_PATH/<table>/ds=YYYY-MM-DD/` (spark/lib/finsight_spark/io.py); a
batch job's write of a partition ends with Spark's `_SUCCESS` marker, so the marker is the signal that
the partition is complete. This decouples DAGs from each other's schedules: a consumer waits for the
data, not for another DAG's run.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from airflow.providers.standard.sensors.python import PythonSensor

from common.partitions import DS, ds_offset
from common.storage import env_location, object_exists

_TABLE = re.compile(r"^lake\.([a-z][a-z0-9_]*)$")


def table_folder(table: str) -> str:
    """The folder of `lake.<table>` under the lake root; ValueError for any other name."""
    match = _TABLE.match(table)
    if match is None:
        raise ValueError(f"lake tables are named 'lake.<table>', got {table!r}")
    return match.group(1)


def success_marker(lake_root: str, table: str, ds: str) -> str:
    """Where the `_SUCCESS` marker of partition `ds` of `table` is."""
    return f"{lake_root}/{table_folder(table)}/ds={ds}/_SUCCESS"


def partition_committed(table: str, ds: str) -> bool:
    """Sensor callable (runs on the worker)."""
    return object_exists(success_marker(env_location("FINSIGHT_LAKE_PATH"), table, ds))


def partition_sensor(
    task_id: str,
    table: str,
    *,
    offset_days: int = 0,
    partition: str | None = None,
    poke_interval: timedelta = timedelta(minutes=5),
    timeout: timedelta = timedelta(hours=4),
    soft_fail: bool = False,
    **operator_kwargs: Any,
) -> PythonSensor:
    """A sensor on the partition of `table` for the run's logical date (shifted by `offset_days`).

    `partition` names another partition as a template derived from the run (common.partitions), for
    example MONTH_END in a monthly DAG.
    """
    table_folder(table)
    if partition is not None and offset_days:
        raise ValueError("give offset_days or partition, not both")
    if partition is None:
        partition = DS if offset_days == 0 else ds_offset(offset_days)
    return PythonSensor(
        task_id=task_id,
        python_callable=partition_committed,
        op_kwargs={"table": table, "ds": partition},
        mode="reschedule",
        poke_interval=poke_interval,
        timeout=timeout,
        soft_fail=soft_fail,
        doc_md=f"Waits for the committed partition of `{table}`.",
        **operator_kwargs,
    )
