"""Data-quality assertions a job runs before it writes.

Each check runs one aggregation and raises `DataQualityError` with the failing row count and a sample,
so a bad batch stops the job instead of landing in the lake::

    expect_unique(clean, ["payment_id"], table="lake.payments_clean")
    expect_all(clean, {"positive amount": F.col("amount") > 0}, table="lake.payments_clean")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

SAMPLE_SIZE = 5


class DataQualityError(Exception):
    """A data-quality check failed: which check, on which table, how many rows, and a sample."""

    def __init__(self, check: str, table: str, failing_rows: int, sample: Sequence[dict]) -> None:
        self.check = check
        self.table = table
        self.failing_rows = failing_rows
        self.sample = list(sample)
        super().__init__(f"{table}: check '{check}' failed for {failing_rows} row(s); sample: {self.sample}")


def _sample(frame: DataFrame) -> list[dict]:
    return [row.asDict(recursive=True) for row in frame.limit(SAMPLE_SIZE).collect()]


def expect(frame: DataFrame, condition: Column, *, check: str, table: str) -> DataFrame:
    """Every row satisfies `condition` (a null result counts as a failure); returns `frame`."""
    failing = frame.where(~F.coalesce(condition, F.lit(False)))
    count = failing.count()
    if count:
        raise DataQualityError(check, table, count, _sample(failing))
    return frame


def expect_all(frame: DataFrame, checks: Mapping[str, Column], *, table: str) -> DataFrame:
    """Every row satisfies every named condition; all checks run in one pass over `frame`.

    Raises for the first failing check (in the order given) with its count and a sample.
    """
    if not checks:
        return frame
    failures = [
        F.sum(F.when(~F.coalesce(condition, F.lit(False)), 1).otherwise(0)).alias(f"c{index}")
        for index, condition in enumerate(checks.values())
    ]
    counts = frame.agg(*failures).first()
    for index, (name, condition) in enumerate(checks.items()):
        failing = counts[f"c{index}"] or 0
        if failing:
            sample = _sample(frame.where(~F.coalesce(condition, F.lit(False))))
            raise DataQualityError(name, table, int(failing), sample)
    return frame


def expect_not_null(frame: DataFrame, columns: Iterable[str], *, table: str) -> DataFrame:
    """None of `columns` is null."""
    names = list(columns)
    condition = F.lit(True)
    for name in names:
        condition = condition & F.col(name).isNotNull()
    return expect(frame, condition, check=f"not null: {', '.join(names)}", table=table)


def expect_unique(frame: DataFrame, columns: Sequence[str], *, table: str) -> DataFrame:
    """`columns` identify at most one row."""
    duplicates = frame.groupBy(*columns).count().where(F.col("count") > 1)
    count = duplicates.count()
    if count:
        raise DataQualityError(f"unique: {', '.join(columns)}", table, count, _sample(duplicates))
    return frame


def expect_values_in(frame: DataFrame, column: str, allowed: Iterable[str], *, table: str) -> DataFrame:
    """`column` only holds one of `allowed` (or null)."""
    values = sorted(set(allowed))
    condition = F.col(column).isNull() | F.col(column).isin(values)
    return expect(frame, condition, check=f"{column} in {values}", table=table)
