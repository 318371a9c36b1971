"""Entry point of ledger_ingest: ledger.entries.v1 (one day) -> lake.ledger_entries (partition ds=run date).

    spark-submit main.py --run-date 2024-05-01 --base-path s3://.../lake --bootstrap-servers b-1.msk...:9098
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession

from finsight_spark.avro import decode_value, load_topic_schema
from finsight_spark.cli import batch_parser, require, topic_source
from finsight_spark.dates import day_bounds, ds
from finsight_spark.dq import DataQualityError, expect_unique
from finsight_spark.io import write_partition
from finsight_spark.session import build_session
from finsight_spark.topics import TopicSource, read_topic
from ledger_ingest.transforms import OUTPUT_TABLE, TOPIC, ledger_entries, ledger_lines, unbalanced_journals

JOB = "ledger_ingest"


def build_parser() -> argparse.ArgumentParser:
    return batch_parser(JOB, "Land one day of general ledger lines in lake.ledger_entries.", reads_topics=True)


def run(spark: SparkSession, args: argparse.Namespace, source: TopicSource) -> str:
    """Compute, check and write the run date's partition; return its path."""
    start, end = day_bounds(args.run_date)
    frame = read_topic(spark, source, TOPIC, start=start, end=end)
    entries = ledger_lines(decode_value(frame, load_topic_schema(TOPIC, args.schema_root))).cache()
    expect_unique(entries, ["entry_id"], table=OUTPUT_TABLE)
    expect_unique(entries, ["journal_id", "line_number"], table=OUTPUT_TABLE)
    unbalanced = unbalanced_journals(entries)
    count = unbalanced.count()
    if count:
        sample = [row.asDict() for row in unbalanced.limit(5).collect()]
        raise DataQualityError("journals balance per currency", OUTPUT_TABLE, count, sample)
    path = write_partition(ledger_entries(entries), args.base_path, OUTPUT_TABLE, ds=ds(args.run_date))
    entries.unpersist()
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    require(parser, args, "base_path")
    source = topic_source(parser, args)
    run(build_session(JOB, master=args.master), args, source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
