"""Reading and writing lake tables by name.

A lake table is named `lake.<table>` (the name the BUILD files declare and dbt's source `lake` uses) and
lives at `<base path>/<table>/ds=YYYY-MM-DD/` as parquet. The base path is a job argument
(`s3://...` on EMR, a temporary folder in tests)::

    payments = read_table(spark, base, "lake.payments_raw", ds_from="2024-05-01", ds_to="2024-05-01")
    write_partition(clean, base, "lake.payments_clean", ds="2024-05-01")

Writes replace exactly one `ds` partition, so re-running a date is idempotent, also when the rerun
produces no rows.
"""

from __future__ import annotations

import re

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

LAKE_NAMESPACE = "lake"
PARTITION_COLUMN = "ds"
_TABLE_NAME = re.compile(r"^lake\.([a-z][a-z0-9_]*)$")


class TableNameError(ValueError):
    """A table name that is not `lake.<table>` (lower case, digits and underscores)."""


def table_id(name: str) -> str:
    """The bare table of `lake.<table>`; raise `TableNameError` for anything else."""
    match = _TABLE_NAME.match(name)
    if match is None:
        raise TableNameError(f"lake tables are named 'lake.<table>' in snake case, got {name!r}")
    return match.group(1)


def table_path(base_path: str, name: str) -> str:
    """Where table `name` lives under `base_path`."""
    return f"{base_path.rstrip('/')}/{table_id(name)}"


def partition_path(base_path: str, name: str, ds: str) -> str:
    """Where partition `ds` of table `name` lives."""
    return f"{table_path(base_path, name)}/{PARTITION_COLUMN}={ds}"


def _filesystem(spark: SparkSession, path: str):
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hadoop_path


def path_exists(spark: SparkSession, path: str) -> bool:
    """True when `path` exists on its filesystem (local, HDFS or S3)."""
    fs, hadoop_path = _filesystem(spark, path)
    return bool(fs.exists(hadoop_path))


def list_partitions(spark: SparkSession, base_path: str, name: str) -> list[str]:
    """The `ds` values table `name` has, sorted; empty when the table does not exist yet."""
    root = table_path(base_path, name)
    if not path_exists(spark, root):
        return []
    fs, hadoop_path = _filesystem(spark, root)
    prefix = f"{PARTITION_COLUMN}="
    values = [
        status.getPath().getName()[len(prefix):]
        for status in fs.listStatus(hadoop_path)
        if status.isDirectory() and status.getPath().getName().startswith(prefix)
    ]
    return sorted(values)


def latest_partition_before(spark: SparkSession, base_path: str, name: str, ds: str) -> str | None:
    """The newest partition strictly before `ds`, or None (ISO dates sort as strings)."""
    earlier = [value for value in list_partitions(spark, base_path, name) if value < ds]
    return earlier[-1] if earlier else None


def require_partition(spark: SparkSession, base_path: str, name: str, ds: str) -> None:
    """Raise `FileNotFoundError` unless partition `ds` of `name` exists (an upstream job has not run)."""
    path = partition_path(base_path, name, ds)
    if not path_exists(spark, path):
        raise FileNotFoundError(f"{name} has no partition ds={ds} at {path}; has its producing job run?")


def _empty(spark: SparkSession, schema: StructType) -> DataFrame:
    fields = [field for field in schema.fields if field.name != PARTITION_COLUMN]
    return spark.createDataFrame([], StructType([*fields, StructField(PARTITION_COLUMN, StringType())]))


def read_table(
    spark: SparkSession,
    base_path: str,
    name: str,
    *,
    ds_from: str | None = None,
    ds_to: str | None = None,
    schema: StructType | None = None,
) -> DataFrame:
    """Read table `name`, keeping the partitions in [ds_from, ds_to] (each bound optional).

    A table that does not exist yet reads as empty when `schema` is given (a job's first run) and
    raises otherwise, so a misspelt base path fails loudly.
    """
    path = table_path(base_path, name)
    if not path_exists(spark, path):
        if schema is None:
            raise FileNotFoundError(f"table {name} does not exist at {path}")
        return _empty(spark, schema)
    frame = spark.read.option("basePath", path).parquet(path)
    ds_column: Column = F.col(PARTITION_COLUMN)
    if ds_from is not None:
        frame = frame.where(ds_column >= F.lit(ds_from))
    if ds_to is not None:
        frame = frame.where(ds_column <= F.lit(ds_to))
    return frame


def write_partition(frame: DataFrame, base_path: str, name: str, *, ds: str) -> str:
    """Replace partition `ds` of table `name` with `frame`; return the partition's path.

    The partition folder is overwritten as a whole, so an empty rerun leaves an empty partition rather
    than yesterday's rows.
    """
    path = partition_path(base_path, name, ds)
    frame.drop(PARTITION_COLUMN).write.mode("overwrite").parquet(path)
    return path
