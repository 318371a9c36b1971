"""Reading and writing lake tables by name.

A lake table is named `lake.<table>` (the name the BUILD files declare and dbt's source `lake` uses) and
lives at `<base path>/<table>/ds=YYYY-MM-DD/` as parquet. The base path is a job argument
(`s3://...` on EMR, a temporary folder in tests)::

    payments = read_table(spark, base, "lake.payments_raw", ds_from="2024-05-01", ds_to="2024-05-01")
    write_partition(clean, base, "lake.payments_clean", ds="2024-05-01")

Writes replace exactly one `ds` partition, so re-running a date is idempotent, also when the rerun
produces no rows. A write enforces the table's contract (`finsight_spark.tables`): a frame with a
missing, unexpected or differently typed column raises `SchemaError` before anything is written.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from finsight_spark.names import LAKE_NAMESPACE, PARTITION_COLUMN, TableNameError, table_id
from finsight_spark.schemas import enforce_contract
from finsight_spark.tables import schema_of

__all__ = [
    "LAKE_NAMESPACE",
    "PARTITION_COLUMN",
    "TableNameError",
    "latest_partition_before",
    "list_partitions",
    "partition_path",
    "path_exists",
    "read_table",
    "require_partition",
    "table_id",
    "table_path",
    "write_partition",
]


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

    `frame` must have exactly the columns of the table's contract, with the contract's types (a `ds`
    column is ignored: the partition is `ds`); they are written in contract order. Anything else raises
    `SchemaError` and writes nothing, so a job cannot land a table its consumers do not expect.
    The partition folder is overwritten as a whole, so an empty rerun leaves an empty partition rather
    than yesterday's rows.
    """
    checked = enforce_contract(frame.drop(PARTITION_COLUMN), schema_of(name), table=name)
    path = partition_path(base_path, name, ds)
    checked.write.mode("overwrite").parquet(path)
    return path
