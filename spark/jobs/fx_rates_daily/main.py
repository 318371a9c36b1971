"""Entry point of fx_rates_daily: fx.rates.v1 (one day) -> lake.fx_rates_daily (partition ds=run date).

    spark-submit main.py --run-date 2024-05-01 --base-path s3://.../lake --bootstrap-servers b-1.msk...:9098
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import timedelta

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from finsight_spark.avro import decode_value, load_topic_schema
from finsight_spark.cli import batch_parser, require, topic_source
from finsight_spark.dates import day_bounds, ds
from finsight_spark.dq import expect_all, expect_unique
from finsight_spark.io import write_partition
from finsight_spark.session import build_session
from finsight_spark.topics import TopicSource, read_topic
from fx_rates_daily.transforms import OUTPUT_TABLE, PAIR, TOPIC, fx_rates_daily

JOB = "fx_rates_daily"
# Closing quotes of a market day can be published shortly after midnight UTC.
LATE_PUBLICATION = timedelta(hours=1)


def build_parser() -> argparse.ArgumentParser:
    return batch_parser(JOB, "Aggregate one day of treasury FX quotes into lake.fx_rates_daily.", reads_topics=True)


def run(spark: SparkSession, args: argparse.Namespace, source: TopicSource) -> str:
    """Compute and write the run date's partition; return its path."""
    start, end = day_bounds(args.run_date)
    frame = read_topic(spark, source, TOPIC, start=start, end=end + LATE_PUBLICATION)
    rates = fx_rates_daily(decode_value(frame, load_topic_schema(TOPIC, args.schema_root)), args.run_date).cache()
    expect_unique(rates, list(PAIR), table=OUTPUT_TABLE)
    expect_all(
        rates,
        {
            "positive rates": F.col("rate") > 0,
            "published with a source": F.col("source").isNotNull() & F.col("published_at").isNotNull(),
        },
        table=OUTPUT_TABLE,
    )
    path = write_partition(rates, args.base_path, OUTPUT_TABLE, ds=ds(args.run_date))
    rates.unpersist()
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
