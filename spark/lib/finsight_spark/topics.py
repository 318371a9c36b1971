"""Kafka topics as Spark sources, in production (MSK) and from files (tests, replays).

Both kinds of source yield the same Kafka-shaped frame (`key`, `value` as binary, `topic`, `partition`,
`offset`, `timestamp`, `timestampType`), so the decoding and the transforms cannot tell them apart::

    source = TopicSource.kafka("b-1.msk.internal:9098")     # production: MSK with IAM auth
    source = TopicSource.files(tmp_path / "topics")          # tests: JSON lines, base64 Avro values
    frame = read_topic(spark, source, "transfers.events.v1", start=start, end=end)
    stream = read_topic_stream(spark, source, "payments.transactions.v1")

A files source keeps one folder per topic, `<path>/<topic>/*.json`; each line is one Kafka record whose
`value` is the base64 of the exact bytes the producer wrote (`write_topic_file` writes them).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, LongType, StringType, StructField, StructType

from finsight_spark.dates import epoch_millis

SourceKind = Literal["kafka", "files"]

# Client settings for MSK with IAM authentication (the instance role signs; no secret is configured).
MSK_IAM_OPTIONS: Mapping[str, str] = {
    "kafka.security.protocol": "SASL_SSL",
    "kafka.sasl.mechanism": "AWS_MSK_IAM",
    "kafka.sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
    "kafka.sasl.client.callback.handler.class": "software.amazon.msk.auth.iam.IAMClientCallbackHandler",
}

# One line of a topic file: the Kafka record with key and value in base64, timestamp in epoch millis.
TOPIC_FILE_SCHEMA = StructType(
    [
        StructField("key", StringType()),
        StructField("value", StringType()),
        StructField("topic", StringType()),
        StructField("partition", IntegerType()),
        StructField("offset", LongType()),
        StructField("timestamp", LongType()),
    ]
)


@dataclass(frozen=True, slots=True)
class TopicSource:
    """Where a job reads its topics from: a Kafka cluster or a folder of topic files."""

    kind: SourceKind
    location: str
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def kafka(cls, bootstrap_servers: str, options: Mapping[str, str] = MSK_IAM_OPTIONS) -> TopicSource:
        return cls("kafka", bootstrap_servers, tuple(sorted(options.items())))

    @classmethod
    def files(cls, path: str | os.PathLike[str]) -> TopicSource:
        return cls("files", os.fspath(path))

    def topic_path(self, topic: str) -> str:
        """The folder of `topic` in a files source."""
        if self.kind != "files":
            raise ValueError("only a files source has topic folders")
        return f"{self.location.rstrip('/')}/{topic}"


def _kafka_shape(frame: DataFrame) -> DataFrame:
    return frame.select(
        F.unbase64("key").alias("key"),
        F.unbase64("value").alias("value"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.timestamp_millis("timestamp").alias("timestamp"),
        F.lit(0).alias("timestampType"),
    )


def read_topic(spark: SparkSession, source: TopicSource, topic: str, *, start: datetime, end: datetime) -> DataFrame:
    """The records of `topic` whose Kafka timestamp is in [start, end), as a batch frame."""
    if source.kind == "kafka":
        frame = (
            spark.read.format("kafka")
            .option("kafka.bootstrap.servers", source.location)
            .options(**dict(source.options))
            .option("subscribe", topic)
            .option("startingTimestamp", str(epoch_millis(start)))
            .option("endingTimestamp", str(epoch_millis(end)))
            .option("failOnDataLoss", "true")
            .load()
        )
    else:
        path = source.topic_path(topic)
        if not Path(path).exists():
            frame = _kafka_shape(spark.createDataFrame([], TOPIC_FILE_SCHEMA))
        else:
            frame = _kafka_shape(spark.read.schema(TOPIC_FILE_SCHEMA).json(path))
    return frame.where((F.col("timestamp") >= F.lit(start)) & (F.col("timestamp") < F.lit(end)))


def read_topic_stream(
    spark: SparkSession,
    source: TopicSource,
    topics: str | Iterable[str],
    *,
    max_records_per_trigger: int | None = None,
) -> DataFrame:
    """A streaming frame over one or more topics, from the earliest retained offset on first start.

    Where the stream resumes is the checkpoint's business: a restarted query reads each record once.
    """
    names = [topics] if isinstance(topics, str) else list(topics)
    if source.kind == "kafka":
        reader = (
            spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", source.location)
            .options(**dict(source.options))
            .option("subscribe", ",".join(names))
            .option("startingOffsets", "earliest")
            .option("failOnDataLoss", "true")
        )
        if max_records_per_trigger is not None:
            reader = reader.option("maxOffsetsPerTrigger", str(max_records_per_trigger))
        return reader.load()
    frames = [
        _kafka_shape(spark.readStream.schema(TOPIC_FILE_SCHEMA).json(source.topic_path(name))) for name in names
    ]
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame)
    return union


def write_topic_file(
    source: TopicSource,
    topic: str,
    file_name: str,
    values: Iterable[tuple[str | None, bytes, datetime]],
    *,
    partition: int = 0,
    first_offset: int = 0,
) -> Path:
    """Write (key, value bytes, timestamp) records as one topic file; offsets increase from `first_offset`.

    Files are written under a temporary name and renamed, so a running stream never sees half a file.
    """
    folder = Path(source.topic_path(topic))
    folder.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    for offset, (key, value, timestamp) in enumerate(values, start=first_offset):
        line: dict[str, Any] = {
            "key": base64.b64encode(key.encode("utf-8")).decode("ascii") if key is not None else None,
            "value": base64.b64encode(value).decode("ascii"),
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "timestamp": epoch_millis(timestamp),
        }
        lines.append(json.dumps(line))
    target = folder / file_name
    staging = folder / f".{file_name}.tmp"
    staging.write_text("\n".join(lines) + "\n", encoding="utf-8")
    staging.rename(target)
    return target
