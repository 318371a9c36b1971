"""Entry point of accounts_snapshot: previous snapshot + accounts.changes.v1 (one day) -> lake.accounts_snapshot.

    spark-submit main.py --run-date 2024-05-01 --base-path s3://.../lake --bootstrap-servers b-1.msk...:9098

The job reads its own previous partition (the newest one before the run date), so dates are run in
order; the Airflow DAG sets depends_on_past for it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession

from accounts_snapshot.transforms import OUTPUT_TABLE, TOPIC, account_changes, apply_changes
from finsight_spark.avro import decode_value, load_topic_schema
from finsight_spark.cli import batch_parser, require, topic_source
from finsight_spark.dates import day_bounds, ds
from finsight_spark.dq import expect_not_null, expect_unique
from finsight_spark.io import latest_partition_before, read_table, write_partition
from finsight_spark.session import build_session
from finsight_spark.tables import ACCOUNTS_SNAPSHOT
from finsight_spark.topics import TopicSource, read_topic

JOB = "accounts_snapshot"


def build_parser() -> argparse.ArgumentParser:
    return batch_parser(JOB, "Apply one day of account changes to the accounts snapshot.", reads_topics=True)


def run(spark: SparkSession, args: argparse.Namespace, source: TopicSource) -> str:
    """Compute, check and write the run date's snapshot; return its path."""
    day = ds(args.run_date)
    previous_ds = latest_partition_before(spark, args.base_path, OUTPUT_TABLE, day)
    if previous_ds is None:  # the first run starts from an empty snapshot
        previous = spark.createDataFrame([], ACCOUNTS_SNAPSHOT)
    else:
        previous = read_table(spark, args.base_path, OUTPUT_TABLE, ds_from=previous_ds, ds_to=previous_ds)
    start, end = day_bounds(args.run_date)
    frame = read_topic(spark, source, TOPIC, start=start, end=end)
    changes = account_changes(decode_value(frame, load_topic_schema(TOPIC, args.schema_root)))
    snapshot = apply_changes(previous, changes, args.run_date).cache()
    expect_unique(snapshot, ["account_id"], table=OUTPUT_TABLE)
    expect_not_null(snapshot, ["customer_id", "status", "currency", "opened_at"], table=OUTPUT_TABLE)
    path = write_partition(snapshot, args.base_path, OUTPUT_TABLE, ds=day)
    snapshot.unpersist()
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
