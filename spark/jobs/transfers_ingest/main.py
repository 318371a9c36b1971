"""Entry point of transfers_ingest: transfers.events.v1 (one day) -> lake.transfers (partition ds=run date).

    spark-submit main.py --run-date 2024-05-01 --base-path s3://.../lake --bootstrap-servers b-1.msk...:9098
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from finsight_spark.avro import decode_value, load_topic_schema
from finsight_spark.cli import batch_parser, require, topic_source
from finsight_spark.dates import day_bounds, ds
from finsight_spark.dq import expect_all, expect_unique
from finsight_spark.io import write_partition
from finsight_spark.session import build_session
from finsight_spark.topics import TopicSource, read_topic
from transfers_ingest.transforms import OUTPUT_TABLE, TOPIC, transfer_events, transfer_state, transfers

JOB = "transfers_ingest"


def build_parser() -> argparse.ArgumentParser:
    return batch_parser(JOB, "Build lake.transfers for one day of transfers.events.v1.", reads_topics=True)


def run(spark: SparkSession, args: argparse.Namespace, source: TopicSource) -> str:
    """Compute and write the run date's partition; return its path."""
    start, end = day_bounds(args.run_date)
    frame = read_topic(spark, source, TOPIC, start=start, end=end)
    state = transfer_state(transfer_events(decode_value(frame, load_topic_schema(TOPIC, args.schema_root)))).cache()
    expect_unique(state, ["transfer_id"], table=OUTPUT_TABLE)
    expect_all(
        state,
        {
            "status known": F.col("status").isNotNull(),
            "converted transfers have a rate": F.col("target_currency").isNull() | (F.col("fx_rate") > 0),
            "completed after initiated": F.col("settlement_seconds").isNull() | (F.col("settlement_seconds") >= 0),
        },
        table=OUTPUT_TABLE,
    )
    path = write_partition(transfers(state), args.base_path, OUTPUT_TABLE, ds=ds(args.run_date))
    state.unpersist()
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
