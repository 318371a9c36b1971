"""Schema helpers: Avro schemas as Spark types, and fitting a DataFrame to a table's contract.

    spark_type = avro_to_spark(load_topic_schema("fx.rates.v1"))
    out = conform(frame, FX_RATES_DAILY)             # a job's last step: select, order and cast
    enforce_contract(out, FX_RATES_DAILY, table=...)  # on write: exactly the contract, or SchemaError
    code(F.col("status"))                             # an enum value as the lake publishes it: "settled"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)


class SchemaError(ValueError):
    """A schema that cannot be used: unsupported Avro construct, or a frame missing contract columns."""


_PRIMITIVES: Mapping[str, DataType] = {
    "boolean": BooleanType(),
    "int": IntegerType(),
    "long": LongType(),
    "float": FloatType(),
    "double": DoubleType(),
    "bytes": BinaryType(),
    "string": StringType(),
}

_LOGICAL: Mapping[str, DataType] = {
    "date": DateType(),
    "timestamp-millis": TimestampType(),
    "timestamp-micros": TimestampType(),
    "local-timestamp-millis": TimestampNTZType(),
    "local-timestamp-micros": TimestampNTZType(),
    "uuid": StringType(),
}


def _full_name(schema: Mapping[str, Any], namespace: str | None) -> str:
    name = schema["name"]
    if "." in name:
        return name
    space = schema.get("namespace", namespace)
    return f"{space}.{name}" if space else name


def _convert(schema: Any, named: dict[str, DataType], namespace: str | None) -> tuple[DataType, bool]:
    """(Spark type, nullable) of one Avro schema node."""
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _PRIMITIVES[schema], False
        qualified = schema if "." in schema or namespace is None else f"{namespace}.{schema}"
        for candidate in (qualified, schema):
            if candidate in named:
                return named[candidate], False
        raise SchemaError(f"unknown Avro type {schema!r}")
    if isinstance(schema, list):
        members = [member for member in schema if member != "null"]
        if len(members) != 1:
            raise SchemaError(f"only unions of null and one type are supported, got {schema!r}")
        spark_type, _ = _convert(members[0], named, namespace)
        return spark_type, len(members) != len(schema)
    logical = schema.get("logicalType")
    if logical == "decimal":
        return DecimalType(int(schema["precision"]), int(schema.get("scale", 0))), False
    if logical in _LOGICAL:
        return _LOGICAL[logical], False
    kind = schema["type"]
    if kind == "record":
        full = _full_name(schema, namespace)
        inner_space = full.rpartition(".")[0] or None
        fields = []
        for field in schema["fields"]:
            spark_type, nullable = _convert(field["type"], named, inner_space)
            fields.append(StructField(field["name"], spark_type, nullable))
        named[full] = StructType(fields)
        return named[full], False
    if kind == "enum":
        named[_full_name(schema, namespace)] = StringType()
        return StringType(), False
    if kind == "fixed":
        named[_full_name(schema, namespace)] = BinaryType()
        return BinaryType(), False
    if kind == "array":
        item, nullable = _convert(schema["items"], named, namespace)
        return ArrayType(item, nullable), False
    if kind == "map":
        value, nullable = _convert(schema["values"], named, namespace)
        return MapType(StringType(), value, nullable), False
    return _convert(kind, named, namespace)


def avro_to_spark(schema: Mapping[str, Any]) -> StructType:
    """The Spark struct of an Avro record schema (logical types included, `["null", T]` nullable)."""
    spark_type, _ = _convert(dict(schema), {}, None)
    if not isinstance(spark_type, StructType):
        raise SchemaError("a topic's value schema must be an Avro record")
    return spark_type


def missing_columns(frame: DataFrame, schema: StructType) -> list[str]:
    """The contract columns `frame` lacks, in contract order."""
    present = set(frame.columns)
    return [field.name for field in schema.fields if field.name not in present]


def conform(frame: DataFrame, schema: StructType) -> DataFrame:
    """Select `schema`'s columns in order, cast to the contract types; extra columns are dropped.

    Raises `SchemaError` naming the missing columns: a job never writes a table short of a column.
    """
    missing = missing_columns(frame, schema)
    if missing:
        raise SchemaError(f"frame is missing contract columns: {', '.join(missing)}")
    return frame.select([F.col(field.name).cast(field.dataType).alias(field.name) for field in schema.fields])


def _plain(data_type: DataType) -> DataType:
    """`data_type` with every nullability flag set, so two types compare on their shape only."""
    if isinstance(data_type, StructType):
        return StructType([StructField(f.name, _plain(f.dataType), True) for f in data_type.fields])
    if isinstance(data_type, ArrayType):
        return ArrayType(_plain(data_type.elementType), True)
    if isinstance(data_type, MapType):
        return MapType(_plain(data_type.keyType), _plain(data_type.valueType), True)
    return data_type


def contract_differences(actual: StructType, contract: StructType) -> list[str]:
    """How `actual` differs from `contract`, one message per column; empty when they agree.

    Columns agree when they have the same names and types; nullability and column order are ignored
    (the lake is schema-on-read, and a write orders the columns as the contract does).
    """
    have = {field.name: field.dataType for field in actual.fields}
    want = {field.name: field.dataType for field in contract.fields}
    problems = [f"missing column {name} {want[name].simpleString()}" for name in want if name not in have]
    problems += [f"unexpected column {name} {have[name].simpleString()}" for name in have if name not in want]
    problems += [
        f"column {name} is {have[name].simpleString()}, the contract says {want[name].simpleString()}"
        for name in want
        if name in have and _plain(have[name]) != _plain(want[name])
    ]
    return problems


def enforce_contract(frame: DataFrame, contract: StructType, *, table: str) -> DataFrame:
    """`frame` with the columns in contract order, if it has exactly the contract's columns and types.

    Unlike `conform` nothing is cast or dropped: any difference raises `SchemaError` naming every
    offending column. Writers call it, so what lands in the lake is what its consumers declare.
    """
    problems = contract_differences(frame.schema, contract)
    if problems:
        raise SchemaError(f"{table}: frame does not match the table's contract: {'; '.join(problems)}")
    return frame.select([field.name for field in contract.fields])


def code(column: Column) -> Column:
    """An enum value as published to the lake's consumers: lower snake case (`CHARGED_BACK` -> `charged_back`).

    Topics carry upper-case Avro enum symbols; dbt and the quality checks read lower-case codes.
    """
    return F.lower(F.trim(column))
