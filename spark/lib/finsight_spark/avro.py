"""Avro payloads of the Kafka topics: framing, encoding and decoding in Python.

Producers write Avro with the AWS Glue Schema Registry framing (header version byte 3, a compression
byte, the 16-byte schema version id, then the Avro body). Decoding happens in Python with fastavro, so
no spark-avro jar is needed: `decode_value` turns the `value` column of a Kafka frame into a struct
typed from the topic's schema::

    schema = load_topic_schema("payments.transactions.v1")
    events = decode_value(kafka_frame, schema)      # columns: record (struct), decode_error, kafka_*

A payload that fails to decode does not fail the job: its `record` is null and `decode_error` says
why, so ingest jobs can land it for inspection.
"""

from __future__ import annotations

import io
import json
import os
import struct
import uuid
import zlib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import fastavro
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from finsight_spark.schemas import avro_to_spark

WireFormat = Literal["glue", "confluent", "none"]

SCHEMA_ROOT_ENV = "FINSIGHT_SCHEMA_ROOT"
GLUE_HEADER_VERSION = 3
GLUE_COMPRESSION_NONE = 0
GLUE_COMPRESSION_ZLIB = 5
CONFLUENT_MAGIC = 0


class AvroDecodeError(ValueError):
    """A payload that is not a valid Avro body in the expected framing."""


# ---------------------------------------------------------------------------------------------------
# Schemas


def find_schema_root(start: Path | None = None) -> Path | None:
    """The repository's `kafka/topics` folder, searched upwards from this library (or `start`)."""
    here = (start or Path(__file__)).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "kafka" / "topics"
        if candidate.is_dir():
            return candidate
    return None


def load_topic_schema(topic: str, schema_root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The current Avro schema of `topic` from `kafka/topics/<topic>/schema.avsc`.

    The folder is `schema_root`, else `$FINSIGHT_SCHEMA_ROOT`, else the repository's `kafka/topics`
    (EMR deploys ship it next to the job's code).
    """
    root = schema_root or os.environ.get(SCHEMA_ROOT_ENV) or find_schema_root()
    if root is None:
        raise FileNotFoundError(f"no kafka/topics folder found for topic {topic}; pass --schema-root")
    path = Path(root) / topic / "schema.avsc"
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=32)
def _parsed(schema_json: str) -> Any:
    return fastavro.parse_schema(json.loads(schema_json))


def canonical_json(schema: Mapping[str, Any]) -> str:
    """A stable JSON text of `schema`, used as the cache key of its parsed form."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------------
# Framing


def frame_payload(body: bytes, wire_format: WireFormat, schema_id: uuid.UUID | int | None = None) -> bytes:
    """Prefix an Avro `body` with the registry header of `wire_format`."""
    if wire_format == "none":
        return body
    if wire_format == "confluent":
        return struct.pack(">bI", CONFLUENT_MAGIC, int(schema_id or 0)) + body
    version = schema_id if isinstance(schema_id, uuid.UUID) else uuid.UUID(int=int(schema_id or 0))
    return bytes([GLUE_HEADER_VERSION, GLUE_COMPRESSION_NONE]) + version.bytes + body


def unframe_payload(payload: bytes, wire_format: WireFormat) -> bytes:
    """The Avro body of a framed payload; raise `AvroDecodeError` when the header does not match."""
    if wire_format == "none":
        return payload
    if wire_format == "confluent":
        if len(payload) < 5 or payload[0] != CONFLUENT_MAGIC:
            raise AvroDecodeError("missing Confluent magic byte")
        return payload[5:]
    if len(payload) < 18 or payload[0] != GLUE_HEADER_VERSION:
        raise AvroDecodeError("missing Glue schema registry header")
    compression, body = payload[1], payload[18:]
    if compression == GLUE_COMPRESSION_NONE:
        return body
    if compression == GLUE_COMPRESSION_ZLIB:
        return zlib.decompress(body)
    raise AvroDecodeError(f"unknown Glue compression byte {compression}")


# ---------------------------------------------------------------------------------------------------
# Records


def encode_record(
    record: Mapping[str, Any],
    schema: Mapping[str, Any],
    *,
    wire_format: WireFormat = "glue",
    schema_id: uuid.UUID | int | None = None,
) -> bytes:
    """Encode one record as a producer would (used by replay tooling and the jobs' tests)."""
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, _parsed(canonical_json(schema)), dict(record))
    return frame_payload(buffer.getvalue(), wire_format, schema_id)


def _plain(value: Any) -> Any:
    """fastavro's logical values as values Spark accepts (UUIDs become strings)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def decode_payload(payload: bytes, schema: Mapping[str, Any], wire_format: WireFormat = "glue") -> dict[str, Any]:
    """Decode one framed payload into a dict of plain values; raise `AvroDecodeError`."""
    body = unframe_payload(payload, wire_format)
    try:
        record = fastavro.schemaless_reader(io.BytesIO(body), _parsed(canonical_json(schema)), None)
    except (EOFError, ValueError, IndexError, TypeError, UnicodeDecodeError, OverflowError) as exc:
        raise AvroDecodeError(f"invalid Avro body: {exc.__class__.__name__}: {exc}") from exc
    return _plain(record)


def _decoder(schema_json: str, wire_format: WireFormat):
    """A row function for `F.udf`: payload bytes -> {record, decode_error}."""

    def decode(payload: bytes | None) -> dict[str, Any]:
        if payload is None:
            return {"record": None, "decode_error": "null payload"}
        try:
            return {"record": decode_payload(bytes(payload), json.loads(schema_json), wire_format), "decode_error": None}
        except AvroDecodeError as exc:
            return {"record": None, "decode_error": str(exc)[:500]}

    return decode


def decode_value(frame: DataFrame, schema: Mapping[str, Any], *, wire_format: WireFormat = "glue") -> DataFrame:
    """Decode the Avro `value` of a Kafka-shaped frame (batch or streaming).

    Returns `record` (a struct typed from `schema`, null when undecodable), `decode_error` and the
    Kafka coordinates `kafka_topic`, `kafka_partition`, `kafka_offset`, `kafka_timestamp`, `kafka_key`.
    """
    result_type = StructType(
        [StructField("record", avro_to_spark(schema), True), StructField("decode_error", StringType(), True)]
    )
    decode = F.udf(_decoder(canonical_json(schema), wire_format), result_type, useArrow=False)
    decoded = frame.select(
        decode(F.col("value")).alias("decoded"),
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        F.col("key").cast("string").alias("kafka_key"),
    )
    return decoded.select(
        "decoded.record",
        "decoded.decode_error",
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        "kafka_timestamp",
        "kafka_key",
    )

