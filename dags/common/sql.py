"""Warehouse statements: the analytics warehouse (Snowflake in staging and prod, DuckDB in dev).

Tasks reach it through the `finsight_warehouse` connection, resolved when the task runs. Every
statement is partitioned by the run's logical date; writes delete the partition before inserting it,
and unloads overwrite their partition's folder, so retries and re-runs are idempotent:

    sql_task(task_id="freeze_month_end", sql=["DELETE ...", "INSERT ..."])
    unload_task(task_id="export_revenue", query="SELECT ...", stage="finance_exports", path="daily_revenue")
"""

from __future__ import annotations

import re
from typing import Any

from airflow.providers.common.sql.operators.sql import BranchSQLOperator, SQLExecuteQueryOperator

from common.partitions import DS, check_grain

WAREHOUSE_CONN_ID = "finsight_warehouse"
_STAGE = re.compile(r"^[a-z][a-z0-9_]*$")
_PATH = re.compile(r"^[a-z0-9_][a-z0-9_/]*$")
FILE_FORMATS = {
    "parquet": "TYPE = PARQUET",
    "csv": "TYPE = CSV FIELD_OPTIONALLY_ENCLOSED_BY = '\"' COMPRESSION = NONE",
    "json": "TYPE = JSON COMPRESSION = GZIP",
}


def sql_task(task_id: str, sql: str | list[str], **operator_kwargs: Any) -> SQLExecuteQueryOperator:
    """Run `sql` (one statement or a list, in order, in one session) on the warehouse."""
    statements = [sql] if isinstance(sql, str) else list(sql)
    if not statements or any(not s.strip() for s in statements):
        raise ValueError("sql_task needs non-empty statements")
    if any(s.rstrip().endswith(".sql") for s in statements):
        raise ValueError("sql_task takes SQL text, not a file name")
    return SQLExecuteQueryOperator(
        task_id=task_id,
        conn_id=WAREHOUSE_CONN_ID,
        sql=statements if len(statements) > 1 else statements[0],
        split_statements=False,
        return_last=True,
        **operator_kwargs,
    )


def unload_path(path: str, grain: str = "daily") -> str:
    """The folder, relative to a stage, that a run of `grain` writes."""
    check_grain(grain)
    if not _PATH.match(path):
        raise ValueError(f"unload paths are lower-case relative folders, got {path!r}")
    if grain == "monthly":
        return f"{path}/month={{{{ data_interval_start.strftime('%Y-%m') }}}}"
    if grain == "hourly":
        return f"{path}/ds={DS}/hour={{{{ data_interval_start.strftime('%H') }}}}"
    return f"{path}/ds={DS}"


def unload_sql(
    query: str, *, stage: str, path: str, file_format: str = "parquet", grain: str = "daily", single_file: bool = False
) -> str:
    """COPY INTO a stage folder of the run's partition, overwriting what a previous try left there."""
    if not _STAGE.match(stage):
        raise ValueError(f"stage names are snake case, got {stage!r}")
    if file_format not in FILE_FORMATS:
        raise ValueError(f"file_format must be one of {sorted(FILE_FORMATS)}, got {file_format!r}")
    target = f"@{stage}/{unload_path(path, grain)}/"
    if single_file:
        target += f"{path.rsplit('/', 1)[-1]}.{file_format}"
    return (
        f"COPY INTO {target}\nFROM (\n{query.strip()}\n)\n"
        f"FILE_FORMAT = ({FILE_FORMATS[file_format]})\n"
        f"HEADER = TRUE OVERWRITE = TRUE SINGLE = {'TRUE' if single_file else 'FALSE'} MAX_FILE_SIZE = 268435456"
    )


def unload_task(
    task_id: str,
    query: str,
    *,
    stage: str,
    path: str,
    file_format: str = "parquet",
    grain: str = "daily",
    single_file: bool = False,
    **operator_kwargs: Any,
) -> SQLExecuteQueryOperator:
    """Unload the result of `query` to `@stage/path/<partition>/`."""
    return sql_task(
        task_id,
        unload_sql(query, stage=stage, path=path, file_format=file_format, grain=grain, single_file=single_file),
        **operator_kwargs,
    )


def branch_on_sql(
    task_id: str,
    condition: str,
    *,
    if_true: str | list[str],
    if_false: str | list[str],
    **operator_kwargs: Any,
) -> BranchSQLOperator:
    """Follow `if_true` or `if_false` (task ids) depending on the boolean that `condition` selects.

    `condition` is a query returning one row with one boolean column, for example
    "SELECT COUNT(*) > 1000 FROM ... WHERE ds = '{{ ds }}'".
    """
    return BranchSQLOperator(
        task_id=task_id,
        conn_id=WAREHOUSE_CONN_ID,
        sql=condition,
        follow_task_ids_if_true=if_true,
        follow_task_ids_if_false=if_false,
        **operator_kwargs,
    )
