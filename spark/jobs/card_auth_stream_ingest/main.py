"""Entry point of card_auth_stream_ingest: cards.authorizations.v1 -> lake.card_authorizations_raw.

    spark-submit main.py --base-path s3://.../lake --checkpoint s3://.../checkpoints/card_auth_stream_ingest \
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
from card_auth_stream_ingest.transforms import OUTPUT_TABLE, TOPIC, card_authorizations_raw

JOB = "card_auth_stream_ingest"


def build_parser() -> argparse.ArgumentParser:
    return streaming_parser(
        JOB, "Stream card authorization decisions from cards.authorizations.v1 into lake.card_authorizations_raw."
    )


def start(
    spark: SparkSession, args: argparse.Namespace, parser: argparse.ArgumentParser | None = None
) -> StreamingQuery:
    """Start the query described by `args`; the caller awaits it."""
    parser = parser or build_parser()
    require(parser, args, "base_path")
    source = topic_source(parser, args)
    schema = load_topic_schema(TOPIC, args.schema_root)
    kafka = read_topic_stream(spark, source, TOPIC, max_records_per_trigger=args.max_records_per_trigger)
    return start_table_sink(
        card_authorizations_raw(decode_value(kafka, schema)),
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
