"""Declarative data-quality checks on a run's partition of a warehouse table.

    quality_check(
        task_id="check_payments_clean",
        table="lake.payments_clean",
        min_rows=50_000,
        not_null=["transaction_id", "account_id", "amount", "currency"],
        unique=["transaction_id"],
        accepted_values={"status": ["AUTHORIZED", "CAPTURED", "SETTLED", "REFUNDED", "FAILED"]},
        non_negative=["amount"],
    )

Each check becomes one boolean column of a single-row query over the run's partition; the task fails
when any column is false and its log names the failing checks. Lake tables are queried through the
warehouse's external tables of the same name (partition column `ds`); marts through their date column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.common.sql.operators.sql import SQLCheckOperator

from common.partitions import DS, INTERVAL_END, check_grain, partition_predicate
from common.sql import WAREHOUSE_CONN_ID

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_TABLE = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


def _column(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a column name: {name!r}")
    return name


def _table(name: str) -> str:
    if not _TABLE.match(name):
        raise ValueError(f"tables are named '<schema>.<table>', got {name!r}")
    return name


def _literal(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        raise ValueError("accepted values are strings or numbers")
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def check_expressions(
    *,
    min_rows: int | None = None,
    max_rows: int | None = None,
    not_null: Sequence[str] = (),
    unique: Sequence[str] = (),
    accepted_values: Mapping[str, Sequence[Any]] | None = None,
    non_negative: Sequence[str] = (),
    max_null_ratio: Mapping[str, float] | None = None,
    freshness: timedelta | None = None,
    timestamp_column: str | None = None,
    expressions: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The named boolean SQL expressions of a check, in a stable order."""
    checks: dict[str, str] = {}
    if min_rows is not None:
        checks["min_rows"] = f"COUNT(*) >= {int(min_rows)}"
    if max_rows is not None:
        checks["max_rows"] = f"COUNT(*) <= {int(max_rows)}"
    for col in not_null:
        checks[f"not_null__{_column(col)}"] = f"COUNT_IF({col} IS NULL) = 0"
    if unique:
        cols = ", ".join(_column(c) for c in unique)
        checks["unique__" + "__".join(unique)] = f"COUNT(*) = COUNT(DISTINCT {cols})"
    for col, values in (accepted_values or {}).items():
        allowed = ", ".join(_literal(v) for v in values)
        checks[f"accepted_values__{_column(col)}"] = f"COUNT_IF({col} NOT IN ({allowed})) = 0"
    for col in non_negative:
        checks[f"non_negative__{_column(col)}"] = f"COUNT_IF({col} < 0) = 0"
    for col, ratio in (max_null_ratio or {}).items():
        if not 0 <= ratio < 1:
            raise ValueError(f"max_null_ratio of {col} must be in [0, 1)")
        checks[f"null_ratio__{_column(col)}"] = f"COUNT_IF({col} IS NULL) <= {ratio} * COUNT(*)"
    if freshness is not None:
        if timestamp_column is None:
            raise ValueError("a freshness check needs the timestamp_column")
        minutes = int(freshness.total_seconds() // 60)
        checks["freshness"] = (
            f"DATEDIFF('minute', MAX({_column(timestamp_column)}), '{INTERVAL_END}'::timestamptz) <= {minutes}"
        )
    for name, expression in (expressions or {}).items():
        checks[_column(name)] = f"({expression})"
    if not checks:
        raise ValueError("a quality check needs at least one check")
    return checks


def check_sql(table: str, checks: Mapping[str, str], where: str) -> str:
    """One row, one boolean column per check, over the rows that `where` selects."""
    columns = ",\n  ".join(f"{expression} AS {name}" for name, expression in checks.items())
    return f"SELECT\n  {columns}\nFROM {_table(table)}\nWHERE {where}"


def quality_check(
    task_id: str,
    table: str,
    *,
    grain: str = "daily",
    partition_column: str | None = "ds",
    timestamp_column: str | None = None,
    where: str | None = None,
    **checks: Any,
) -> SQLCheckOperator:
    """A task that fails when any check on the run's partition of `table` is false.

    `where` narrows the rows further (for example `status = 'settled'`); the checks are the keyword
    arguments of `check_expressions`. `partition_column=None` checks a current-state table or view as
    a whole (a latest-status model has no partitions).
    """
    check_grain(grain)
    if partition_column is None:
        predicate = "TRUE"
    else:
        predicate = partition_predicate(grain, _column(partition_column), timestamp_column=timestamp_column)
    if where:
        predicate = f"{predicate} AND ({where})"
    expressions = check_expressions(timestamp_column=timestamp_column, **checks)
    return SQLCheckOperator(
        task_id=task_id,
        conn_id=WAREHOUSE_CONN_ID,
        sql=check_sql(table, expressions, predicate),
        doc_md=f"Data-quality checks on `{table}`: {', '.join(expressions)}",
    )


def volume_anomaly_check(
    task_id: str,
    table: str,
    *,
    date_column: str = "ds",
    weeks: int = 4,
    tolerance: float = 0.4,
    where: str | None = None,
) -> SQLCheckOperator:
    """Fail when the day's row count strays more than `tolerance` from the same weekday's average.

    The baseline is the same weekday of the previous `weeks` weeks, which absorbs the weekly seasonality
    of payment volumes (weekend card spend, weekday transfers).
    """
    if weeks < 1 or not 0 < tolerance < 1:
        raise ValueError("weeks >= 1 and 0 < tolerance < 1")
    col = _column(date_column)
    baseline_days = ", ".join(f"'{{{{ macros.ds_add(ds, {-7 * week}) }}}}'" for week in range(1, weeks + 1))
    extra = f" AND ({where})" if where else ""
    sql = (
        "WITH daily AS (\n"
        f"  SELECT {col} AS day, COUNT(*) AS row_count FROM {_table(table)}\n"
        f"  WHERE {col} IN ('{DS}', {baseline_days}){extra}\n"
        f"  GROUP BY {col}\n"
        ")\n"
        "SELECT\n"
        f"  COALESCE(MAX(CASE WHEN day = '{DS}' THEN row_count END), 0)\n"
        f"    BETWEEN (1 - {tolerance}) * AVG(CASE WHEN day <> '{DS}' THEN row_count END)\n"
        f"        AND (1 + {tolerance}) * AVG(CASE WHEN day <> '{DS}' THEN row_count END) AS volume_within_band,\n"
        f"  COUNT_IF(day <> '{DS}') >= {max(1, weeks // 2)} AS baseline_available\n"
        "FROM daily"
    )
    return SQLCheckOperator(
        task_id=task_id,
        conn_id=WAREHOUSE_CONN_ID,
        sql=sql,
        doc_md=f"Row volume of `{table}` within ±{tolerance:.0%} of the {weeks}-week same-weekday average.",
    )
