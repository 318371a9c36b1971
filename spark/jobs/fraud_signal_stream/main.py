"""Entry point of fraud_signal_stream: fraud.signals.v1 + cards.authorizations.v1 -> lake.fraud_signals_raw.

    spark-submit main.py --base-path s3://.../lake --checkpoint s3://.../checkpoints/fraud_signal_stream \
        --bootstrap-servers b-1.msk...:9098
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from finsight_spark.avro import decode_value, load_topic_schema
from finsight_spark.cli import require, streaming_parser, topic_source
from finsight_spark.session import build_session
from finsight_spark.streaming import start_table_sink
from finsight_spark.topics import read_topic_stream
from fraud_signal_stream.transforms import (
    AUTHORIZATIONS_TOPIC,
    OUTPUT_TABLE,
    SIGNALS_TOPIC,
    authorization_context,
    enrich_signals,
    flatten_signals,
)

JOB = "fraud_signal_stream"


def build_parser() -> argparse.ArgumentParser:
    return streaming_parser(
        JOB, "Land fraud.signals.v1 in lake.fraud_signals_raw, joined with the card authorizations that triggered them."
    )


def start(
    spark: SparkSession, args: argparse.Namespace, parser: argparse.ArgumentParser | None = None
) -> StreamingQuery:
    """Start the query described by `args`; the caller awaits it."""
    parser = parser or build_parser()
    require(parser, args, "base_path")
    source = topic_source(parser, args)
    limit = args.max_records_per_trigger
    signals = decode_value(
        read_topic_stream(spark, source, SIGNALS_TOPIC, max_records_per_trigger=limit),
        load_topic_schema(SIGNALS_TOPIC, args.schema_root),
    )
    authorizations = decode_value(
        read_topic_stream(spark, source, AUTHORIZATIONS_TOPIC, max_records_per_trigger=limit),
        load_topic_schema(AUTHORIZATIONS_TOPIC, args.schema_root),
    )
    return start_table_sink(
        enrich_signals(flatten_signals(signals), authorization_context(authorizations)),
        args.base_path,
        OUTPUT_TABLE,
        checkpoint=args.checkpoint,
        available_now=args.available_now,
        trigger_interval=args.trigger_interval,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    require(parser, args, "base_path")
    topic_source(parser, args)  # fail on a missing source location before starting a JVM
    spark = build_session(JOB, master=args.master)
    start(spark, args, parser).awaitTermination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
