"""The lake tables the Spark jobs write are exactly the tables dbt reads: no schema drift between them.

dbt's source `lake` (dbt/models/staging/_sources.yml) declares every lake table it reads with its
columns and their `data_type`: that is the consumer contract. The Spark side states the same contract
in `finsight_spark.tables`, and the jobs cannot write anything else: `finsight_spark.io.write_partition`
and `finsight_spark.streaming.start_table_sink` enforce the contract of the table they write. These
tests hold the two declarations equal (names, order and types), the DuckDB sample data to the declared
columns, every job's BUILD `writes` to the table its code writes through those helpers, and the
helpers to rejecting a frame that is off contract.

Everything but the last test is static (no JVM); that one starts a local SparkSession.
"""

from __future__ import annotations

import ast
import csv
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
JOBS = ROOT / "spark" / "jobs"
LIB = ROOT / "spark" / "lib"
SOURCES_YML = ROOT / "dbt" / "models" / "staging" / "_sources.yml"
SAMPLE_DIR = ROOT / "dbt" / "sample_data" / "lake"

sys.path.insert(0, str(LIB))
try:
    from pyspark.sql.types import (
        ArrayType,
        BooleanType,
        DataType,
        DateType,
        DecimalType,
        DoubleType,
        IntegerType,
        LongType,
        MapType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    from finsight_spark import tables
    from finsight_spark.schemas import SchemaError, contract_differences
finally:
    sys.path.remove(str(LIB))


# --- reading both sides ----------------------------------------------------------------------------------

_SCALARS: dict[type, str] = {
    StringType: "varchar",
    LongType: "bigint",
    IntegerType: "integer",
    DoubleType: "double",
    BooleanType: "boolean",
    DateType: "date",
    TimestampType: "timestamp",
}


def dbt_type(data_type: DataType) -> str:
    """The dbt/DuckDB `data_type` a Spark column type lands as (parquet to an external table)."""
    if isinstance(data_type, DecimalType):
        return f"decimal({data_type.precision},{data_type.scale})"
    if isinstance(data_type, ArrayType):
        return f"{dbt_type(data_type.elementType)}[]"
    if isinstance(data_type, MapType):
        return f"map({dbt_type(data_type.keyType)},{dbt_type(data_type.valueType)})"
    for spark_type, name in _SCALARS.items():
        if isinstance(data_type, spark_type):
            return name
    raise AssertionError(f"no dbt type for Spark type {data_type.simpleString()}")


def normalized(data_type: str) -> str:
    """A dbt `data_type` compared loosely on case and spacing: `DECIMAL(18, 2)` is `decimal(18,2)`."""
    return re.sub(r"\s+", "", data_type.lower())


def dbt_lake_tables() -> dict[str, list[tuple[str, str | None]]]:
    """`lake.<table>` -> [(column, data_type)] as dbt's source `lake` declares them, in order."""
    [source] = [s for s in yaml.safe_load(SOURCES_YML.read_text())["sources"] if s["name"] == "lake"]
    return {
        f"lake.{table['name']}": [(column["name"], column.get("data_type")) for column in table.get("columns", [])]
        for table in source["tables"]
    }


def spark_columns(name: str) -> list[tuple[str, str]]:
    return [(field.name, dbt_type(field.dataType)) for field in tables.schema_of(name).fields]


def build_target(job: str) -> dict:
    """The keyword arguments of a job's `spark_job(...)` call, read the way the engine reads them."""
    [statement] = ast.parse((JOBS / job / "BUILD").read_text()).body
    call = statement.value
    return {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}


JOB_NAMES = sorted(p.name for p in JOBS.iterdir() if (p / "BUILD").is_file())
WRITES = {job: [ref.removeprefix("table:") for ref in build_target(job)["writes"]] for job in JOB_NAMES}
DBT = dbt_lake_tables()
PUBLISHED = sorted(set(DBT) & {table for written in WRITES.values() for table in written})


# --- the tables ------------------------------------------------------------------------------------------

def test_every_written_table_has_a_contract_and_dbt_declares_all_but_the_internal_ones() -> None:
    written = {table for tables_written in WRITES.values() for table in tables_written}
    assert written == set(tables.TABLES), "every table a BUILD writes has a contract in finsight_spark.tables"
    assert tables.INTERNAL_TABLES <= written
    assert set(DBT) == written - tables.INTERNAL_TABLES, (
        "dbt's source `lake` declares every table the Spark jobs write except the internal landing tables"
    )
    assert len(PUBLISHED) == 13


def test_dbt_declares_a_type_for_every_lake_column() -> None:
    untyped = [(table, column) for table, columns in DBT.items() for column, data_type in columns if not data_type]
    assert untyped == []
    assert all(columns for columns in DBT.values())


@pytest.mark.parametrize("table", PUBLISHED)
def test_spark_contract_equals_the_dbt_source(table: str) -> None:
    spark = spark_columns(table)
    declared = [(column, normalized(data_type)) for column, data_type in DBT[table]]
    only_spark = [column for column in spark if column not in declared]
    only_dbt = [column for column in declared if column not in spark]
    assert (only_spark, only_dbt) == ([], []), (
        f"{table}: finsight_spark.tables and dbt/models/staging/_sources.yml disagree; "
        f"only in Spark: {only_spark}, only in dbt: {only_dbt}"
    )
    assert [c for c, _ in spark] == [c for c, _ in declared], f"{table}: same columns, different order"


@pytest.mark.parametrize("table", PUBLISHED)
def test_sample_data_has_exactly_the_declared_columns(table: str) -> None:
    path = SAMPLE_DIR / f"{table.removeprefix('lake.')}.csv"
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        widths = {len(row) for row in reader}
    assert header == [column for column, _ in DBT[table]], f"{path.relative_to(ROOT)} header"
    assert widths == {len(header)}, f"{path.relative_to(ROOT)}: every row has one value per column"


# --- what the jobs write ---------------------------------------------------------------------------------

WRITERS = {"write_partition", "start_table_sink"}  # the io helpers that enforce the contract
RAW_WRITES = {"write", "writeStream", "saveAsTable", "insertInto", "writeTo"}


def _string_constants(tree: ast.Module) -> dict[str, str]:
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


@pytest.mark.parametrize("job", JOB_NAMES)
def test_job_writes_its_declared_table_only_through_the_enforcing_helpers(job: str) -> None:
    constants = _string_constants(ast.parse((JOBS / job / "transforms.py").read_text()))
    [declared] = WRITES[job]
    assert constants.get("OUTPUT_TABLE") == declared, f"{job}: transforms.OUTPUT_TABLE is not its BUILD's writes"

    main = ast.parse((JOBS / job / "main.py").read_text())
    calls = [node for node in ast.walk(main) if isinstance(node, ast.Call)]
    writes = [call for call in calls if isinstance(call.func, ast.Name) and call.func.id in WRITERS]
    assert writes, f"{job}: main.py writes through neither write_partition nor start_table_sink"
    for call in writes:
        table_arguments = [arg.id for arg in call.args if isinstance(arg, ast.Name)]
        assert "OUTPUT_TABLE" in table_arguments, f"{job}:{call.lineno} writes a table other than OUTPUT_TABLE"

    for path in (JOBS / job).rglob("*.py"):
        if "tests" in path.relative_to(JOBS / job).parts:
            continue
        raw = [
            node.lineno
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Attribute) and node.attr in RAW_WRITES
        ]
        assert raw == [], f"{path.relative_to(ROOT)}:{raw} writes a DataFrame without the contract check"


# --- the enforcement -------------------------------------------------------------------------------------

CONTRACT = StructType([
    StructField("rate_date", DateType()),
    StructField("rate", DecimalType(18, 8)),
    StructField("codes", ArrayType(StringType())),
])


def test_contract_differences_name_every_drifted_column() -> None:
    drifted = StructType([
        StructField("rate", DoubleType()),
        StructField("codes", ArrayType(StringType(), containsNull=False), nullable=False),
        StructField("rate_type", StringType()),
    ])
    assert contract_differences(drifted, CONTRACT) == [
        "missing column rate_date date",
        "unexpected column rate_type string",
        "column rate is double, the contract says decimal(18,8)",
    ]
    reordered = StructType([CONTRACT["codes"], CONTRACT["rate"], CONTRACT["rate_date"]])
    assert contract_differences(reordered, CONTRACT) == []  # order and nullability are not drift


@pytest.fixture(scope="module")
def spark():
    sys.path.insert(0, str(LIB))
    try:
        from finsight_spark.session import build_session
    finally:
        sys.path.remove(str(LIB))
    session = build_session("lake-contract-tests", master="local[1]")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_write_partition_enforces_the_contract(spark, tmp_path: Path) -> None:
    from datetime import date, datetime
    from decimal import Decimal

    from pyspark.sql import functions as F

    from finsight_spark.io import partition_path, read_table, write_partition
    from finsight_spark.streaming import start_table_sink

    base = str(tmp_path / "lake")
    name = "lake.fx_rates_daily"
    contract = tables.schema_of(name)
    row = (date(2024, 5, 1), "EUR", "USD", Decimal("1.08000000"), "refinitiv", datetime(2024, 5, 1, 16, 5))

    legacy = spark.createDataFrame(
        [(date(2024, 5, 1), "EUR", "USD", "MID", Decimal("1.08000000"))],
        "rate_date date, base_currency string, quote_currency string, rate_type string, close_rate decimal(18,8)",
    )
    with pytest.raises(SchemaError) as failure:
        write_partition(legacy, base, name, ds="2024-05-01")
    message = str(failure.value)
    assert "missing column rate decimal(18,8)" in message and "unexpected column close_rate" in message
    assert "unexpected column rate_type" in message
    assert not Path(partition_path(base, name, "2024-05-01")).exists()  # nothing written

    float_rates = spark.createDataFrame([row], contract).withColumn("rate", F.col("rate").cast("double"))
    with pytest.raises(SchemaError, match="column rate is double"):
        write_partition(float_rates, base, name, ds="2024-05-01")

    with pytest.raises(SchemaError, match="unexpected column rate_type"):
        start_table_sink(legacy, base, name, checkpoint=str(tmp_path / "checkpoint"))

    reordered = spark.createDataFrame([row], contract).select(*reversed(contract.fieldNames()))
    write_partition(reordered, base, name, ds="2024-05-01")
    written = read_table(spark, base, name)
    assert written.columns == [*contract.fieldNames(), "ds"]  # written in contract order
    assert written.first()["rate"] == Decimal("1.08000000")
