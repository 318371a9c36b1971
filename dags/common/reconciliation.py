"""Two-sided reconciliations: record the breaks of a run's partition, then fail past a tolerance.

    reconciliation_check(
        task_id="payments_vs_ledger",
        left={"table": "marts.fct_payments", "date_column": "payment_date",
              "keys": {"currency": "currency"}, "measure": "SUM(amount)", "where": "status = 'SETTLED'"},
        right={"table": "marts.fct_ledger_entries", "date_column": "posting_date",
               "keys": {"currency": "currency"}, "measure": "SUM(amount)", "where": "gl_account_code = '2100'"},
        tolerance=0.01,
    )

Both sides are aggregated to the same keys (each side maps a key name to its own column or
expression) and compared with a full outer join: a key present on one side only, or whose measures
differ by more than `tolerance` (absolute) and `tolerance_ratio` (relative to the larger side), is a
break. Each side reads the run's partition of its date column, or, for daily runs, the day its `day`
template names (a bank statement delivered today for yesterday's balances). The breaks of the partition are replaced in `recon.breaks` (so a re-run leaves one copy), which
the break-ageing escalation (recon_breaks_ageing) reads; then the check fails when there are more than
`max_breaks` breaks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow.providers.common.sql.operators.sql import SQLCheckOperator
from airflow.sdk import TaskGroup

from common.partitions import check_grain, date_bounds, partition_predicate
from common.sql import WAREHOUSE_CONN_ID, sql_task

BREAKS_TABLE = "recon.breaks"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TABLE = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
_SIDE_KEYS = {"table", "date_column", "keys", "measure", "where", "day"}


def _side(side: Mapping[str, Any], label: str) -> Mapping[str, Any]:
    unknown = set(side) - _SIDE_KEYS
    missing = {"table", "date_column", "keys", "measure"} - set(side)
    if unknown or missing:
        raise ValueError(f"{label} side: unknown {sorted(unknown)}, missing {sorted(missing)}")
    if not _TABLE.match(side["table"]):
        raise ValueError(f"{label} side: tables are '<schema>.<table>', got {side['table']!r}")
    if not side["keys"]:
        raise ValueError(f"{label} side needs at least one key")
    return side


def _aggregate(side: Mapping[str, Any], names: list[str], grain: str) -> str:
    keys = side["keys"]
    select = ", ".join(f"{keys[name]} AS {name}" for name in names)
    if side.get("day"):
        if grain != "daily":
            raise ValueError("a side's day applies to daily reconciliations only")
        where = f"{side['date_column']} = '{side['day']}'"
    elif grain == "hourly":
        where = f"{side['date_column']} = '{{{{ ds }}}}'"
    else:
        where = partition_predicate(grain, side["date_column"])
    if side.get("where"):
        where += f" AND ({side['where']})"
    group = ", ".join(str(i + 1) for i in range(len(names)))
    return f"SELECT {select}, {side['measure']} AS measure FROM {side['table']} WHERE {where} GROUP BY {group}"


def breaks_query(
    left: Mapping[str, Any],
    right: Mapping[str, Any],
    *,
    grain: str,
    tolerance: float,
    tolerance_ratio: float,
) -> str:
    """The rows (keys, left measure, right measure, difference) that do not reconcile."""
    left, right = _side(left, "left"), _side(right, "right")
    names = list(left["keys"])
    if set(names) != set(right["keys"]):
        raise ValueError(f"both sides need the same keys: {sorted(left['keys'])} vs {sorted(right['keys'])}")
    for name in names:
        if not _NAME.match(name):
            raise ValueError(f"key names are snake case, got {name!r}")
    join = " AND ".join(f"l.{n} = r.{n}" for n in names)
    keys_out = ", ".join(f"COALESCE(l.{n}, r.{n}) AS {n}" for n in names)
    key_blob = " || '|' || ".join(f"COALESCE(CAST(l.{n} AS VARCHAR), CAST(r.{n} AS VARCHAR))" for n in names)
    return (
        f"WITH l AS ({_aggregate(left, names, grain)}),\n"
        f"r AS ({_aggregate(right, names, grain)})\n"
        f"SELECT {keys_out}, {key_blob} AS break_key,\n"
        "  l.measure AS left_measure, r.measure AS right_measure,\n"
        "  COALESCE(l.measure, 0) - COALESCE(r.measure, 0) AS difference\n"
        f"FROM l FULL OUTER JOIN r ON {join}\n"
        f"WHERE l.{names[0]} IS NULL OR r.{names[0]} IS NULL\n"
        f"   OR (ABS(COALESCE(l.measure, 0) - COALESCE(r.measure, 0)) > {tolerance}\n"
        f"       AND ABS(COALESCE(l.measure, 0) - COALESCE(r.measure, 0))"
        f" > {tolerance_ratio} * GREATEST(ABS(COALESCE(l.measure, 0)), ABS(COALESCE(r.measure, 0))))"
    )


def reconciliation_check(
    task_id: str,
    left: Mapping[str, Any],
    right: Mapping[str, Any],
    *,
    grain: str = "daily",
    tolerance: float = 0,
    tolerance_ratio: float = 0,
    max_breaks: int = 0,
) -> TaskGroup:
    """A task group `task_id` with `record_breaks` >> `assert_within_tolerance`."""
    if not _NAME.match(task_id):
        raise ValueError(f"reconciliation task ids are snake case (they name the reconciliation), got {task_id!r}")
    check_grain(grain)
    if tolerance < 0 or tolerance_ratio < 0 or max_breaks < 0:
        raise ValueError("tolerances and max_breaks are non-negative")
    first, last = date_bounds(grain)
    query = breaks_query(left, right, grain=grain, tolerance=tolerance, tolerance_ratio=tolerance_ratio)
    scope = f"recon_name = '{task_id}' AND period_start = '{first}' AND period_end = '{last}'"
    with TaskGroup(group_id=task_id, tooltip=f"{left['table']} vs {right['table']}") as group:
        record = sql_task(
            "record_breaks",
            [
                f"DELETE FROM {BREAKS_TABLE} WHERE {scope}",
                f"INSERT INTO {BREAKS_TABLE} (recon_name, period_start, period_end, break_key, left_measure,"
                " right_measure, difference, run_id)\n"
                f"SELECT '{task_id}', '{first}', '{last}', break_key, left_measure, right_measure, difference,"
                " '{{ run_id }}'\n"
                f"FROM ({query}) AS breaks",
            ],
        )
        verdict = SQLCheckOperator(
            task_id="assert_within_tolerance",
            conn_id=WAREHOUSE_CONN_ID,
            sql=f"SELECT COUNT(*) <= {int(max_breaks)} AS breaks_within_limit FROM {BREAKS_TABLE} WHERE {scope}",
            doc_md=f"At most {max_breaks} breaks between `{left['table']}` and `{right['table']}`.",
        )
        record >> verdict
    return group
