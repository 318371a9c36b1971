"""A real local Structured Streaming query, deployed the way ``rules.deploy.spark_local`` deploys one.

Used by the streaming benchmark (``bench/streaming.py``) and its tests. The source is
``graphbuild_sequence``, a Python data source that stands in for a Kafka topic without a broker: it
emits rows ``id = 0, 1, 2, ...`` at ``rowsPerSecond`` from a fixed ``epoch`` (so every version of the
query, in any process, sees the same rows), its offsets are JSON (``{"offset": n}``) and it takes
``startingOffsets`` like Kafka's source, which is what a blue/green start from committed offsets needs.

Versions (``VERSIONS``): ``v1`` projects, ``v2-compatible`` changes a projection and a filter that drops
nothing, ``v2-incompatible`` adds a stateful deduplication (watermarked). The sink is Spark's parquet file
sink: exactly once per checkpoint, and its ``_spark_metadata`` log is keyed by batch id, so a blue/green
generation (batch ids from 0 again) writes a folder of its own.

``python -m rules.deploy.streaming_run serve ...`` runs one version in its own process (its own JVM), with
a control folder: it warms up (JVM, session), writes ``ready``, waits for ``go``, runs, appends every
batch's progress to ``progress.jsonl`` and, once ``stop`` appears, stops after the running batch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming import StreamingQuery, StreamingQueryListener

__all__ = ["VERSIONS", "SequenceSource", "data_batches", "gap_s", "session", "start_version", "stop_after_batch"]

SOURCE = "graphbuild_sequence"
CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.streaming.noDataMicroBatches.enabled": "false",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC -XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}


class SequenceSource(DataSource):
    """``id`` 0, 1, 2, ... at ``rowsPerSecond`` since ``epoch`` (seconds), with ``k = id % 5`` and event time ``ts``."""

    @classmethod
    def name(cls) -> str:
        return SOURCE

    def schema(self) -> str:
        return "id long, k int, ts timestamp"

    def streamReader(self, schema: Any) -> DataSourceStreamReader:
        return _SequenceReader({str(k).lower(): str(v) for k, v in self.options.items()})  # Spark lower-cases option keys


class _SequenceReader(DataSourceStreamReader):
    def __init__(self, options: dict[str, str]) -> None:
        self.rate = float(options.get("rowspersecond", "20"))
        self.epoch = float(options["epoch"])
        self.start = int(json.loads(options.get("startingoffsets", '{"offset": 0}'))["offset"])

    def initialOffset(self) -> dict:
        return {"offset": self.start}

    def latestOffset(self, start: dict | None = None, limit: Any = None) -> dict:
        produced = int((time.time() - self.epoch) * self.rate)
        return {"offset": max(produced, int((start or {}).get("offset", self.start)), self.start)}

    def partitions(self, start: dict, end: dict) -> list[InputPartition]:
        return [InputPartition((int(start["offset"]), int(end["offset"])))]

    def read(self, partition: InputPartition) -> Iterator[tuple]:
        first, last = partition.value
        for i in range(first, last):
            yield (i, i % 5, datetime.fromtimestamp(self.epoch + i / self.rate))


def _v1(frame: DataFrame) -> DataFrame:
    return frame.select("id", "k", (F.col("id") * 2).alias("v"))


def _v2_compatible(frame: DataFrame) -> DataFrame:  # a projection and a filter: no state
    return frame.where(F.col("id") >= 0).select("id", "k", (F.col("id") * 3).alias("v"))


def _v2_incompatible(frame: DataFrame) -> DataFrame:  # a stateful deduplication: new state
    return frame.withWatermark("ts", "10 seconds").dropDuplicatesWithinWatermark(["id"]).select(
        "id", "k", (F.col("id") * 2).alias("v"))


VERSIONS: dict[str, Callable[[DataFrame], DataFrame]] = {
    "v1": _v1, "v2-compatible": _v2_compatible, "v2-incompatible": _v2_incompatible,
}


def session(master: str = "local[2]") -> SparkSession:
    """The local session the harness runs on, with the sequence source registered."""
    # Spark's Python workers unpickle the source by reference: they need this interpreter and this module
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    root = str(Path(__file__).resolve().parents[2])
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *filter(None, paths)])
    builder = SparkSession.builder.master(master).appName("graphbuild-streaming")
    for key, value in CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.dataSource.register(SequenceSource)
    return spark


def start_version(spark: SparkSession, version: str, checkpoint: Path, sink: Path, *, epoch: float,
                  rows_per_second: float = 20, starting_offsets: str | None = None,
                  trigger: str = "500 milliseconds") -> StreamingQuery:
    """Start ``version`` on ``checkpoint`` into the parquet folder ``sink``."""
    reader = spark.readStream.format(SOURCE).option("epoch", str(epoch)).option("rowsPerSecond", str(rows_per_second))
    if starting_offsets is not None:
        reader = reader.option("startingOffsets", starting_offsets)
    frame = VERSIONS[version](reader.load())
    return (frame.writeStream.format("parquet").outputMode("append").option("path", str(sink))
            .option("checkpointLocation", str(checkpoint)).trigger(processingTime=trigger).start())


def data_batches(query: StreamingQuery) -> list[dict[str, Any]]:
    """The completed batches of ``query`` that read rows: batch id, rows and when the batch ended (epoch s)."""
    return [_batch(p) for p in query.recentProgress if p["numInputRows"] > 0]


def _batch(progress: dict[str, Any]) -> dict[str, Any]:
    begun = datetime.fromisoformat(progress["timestamp"].replace("Z", "+00:00")).timestamp()
    return {"batch": progress["batchId"], "rows": progress["numInputRows"], "run": progress["runId"],
            "ended": begun + progress["durationMs"].get("triggerExecution", 0) / 1000}


def wait_for_batches(query: StreamingQuery, count: int, timeout_s: float = 120) -> None:
    """Wait until ``query`` has completed ``count`` batches that read rows."""
    deadline = time.monotonic() + timeout_s
    while len(data_batches(query)) < count:
        if query.exception() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"query made no progress: {query.exception() or 'timeout'}")
        time.sleep(0.1)


def stop_after_batch(query: StreamingQuery, timeout_s: float = 60) -> None:
    """Stop ``query`` gracefully: right after its next batch completes (its offsets are then committed)."""
    seen = query.lastProgress["batchId"] if query.lastProgress else -1
    deadline = time.monotonic() + timeout_s
    while (query.lastProgress or {}).get("batchId", -1) == seen and time.monotonic() < deadline:
        time.sleep(0.02)
    query.stop()


def gap_s(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> float:
    """The interruption: from the end of the old version's last batch to the end of the new one's first."""
    return round(new[0]["ended"] - old[-1]["ended"], 3)


# --------------------------------------------------------------------------------------------------
# One version in its own process (the benchmark's deploy unit)


class _ProgressFile(StreamingQueryListener):
    def __init__(self, path: Path) -> None:
        self.path = path

    def onQueryStarted(self, event: Any) -> None:
        pass

    def onQueryProgress(self, event: Any) -> None:
        progress = json.loads(event.progress.json)
        if progress["numInputRows"] > 0:
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(_batch(progress)) + "\n")

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        pass


def _wait_for(path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.02)


def _warm_up(spark: SparkSession, version: str, scratch: Path) -> None:
    """Run the version once on a scratch checkpoint and sink while the old version still runs.

    A fresh JVM's first micro-batch costs seconds (Python workers, the parquet writer, class loading);
    paid here, it is not part of the interruption.
    """
    query = start_version(spark, version, scratch / "checkpoint", scratch / "sink", epoch=time.time() - 1)
    wait_for_batches(query, 1)
    query.stop()


def serve(argv: list[str] | None = None) -> int:
    """Run one version in this process under the control folder's ``ready``/``go``/``stop`` files."""
    parser = argparse.ArgumentParser(prog="streaming_run serve")
    parser.add_argument("--version", required=True, choices=sorted(VERSIONS))
    parser.add_argument("--checkpoint", required=True, type=Path)
    parser.add_argument("--sink", required=True, type=Path)
    parser.add_argument("--control", required=True, type=Path)
    parser.add_argument("--epoch", required=True, type=float)
    parser.add_argument("--rows-per-second", type=float, default=20)
    parser.add_argument("--seed-from", type=Path, help="blue/green: start from this checkpoint's committed offsets")
    parser.add_argument("--cold", action="store_true", help="no warm-up run before `ready` (a plain new spark-submit)")
    args = parser.parse_args(argv)
    from rules.deploy.streaming_compat import committed_offsets

    spark = session()
    spark.streams.addListener(_ProgressFile(args.control / "progress.jsonl"))
    if args.cold:
        spark.range(1).collect()  # the JVM and the session only
    else:
        _warm_up(spark, args.version, args.control / "warm-up")
    (args.control / "ready").touch()
    _wait_for(args.control / "go", 600)
    started = time.time()
    starting = None
    if args.seed_from is not None:
        committed = committed_offsets(args.seed_from)
        starting = committed.starting_offsets() if committed else None
    query = start_version(spark, args.version, args.checkpoint, args.sink, epoch=args.epoch,
                          rows_per_second=args.rows_per_second, starting_offsets=starting)
    (args.control / "started").write_text(json.dumps({"started": started, "run": str(query.runId)}))
    _wait_for(args.control / "stop", 600)
    stop_after_batch(query)
    (args.control / "stopped").write_text(json.dumps({"stopped": time.time()}))  # the new version may start now
    spark.stop()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] != ["serve"]:
        sys.exit("usage: python -m rules.deploy.streaming_run serve --version V --checkpoint C --sink S --control D --epoch E")
    sys.exit(serve(sys.argv[2:]))
