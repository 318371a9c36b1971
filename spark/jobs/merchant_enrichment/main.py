"""Entry point of merchant_enrichment: lake.payments_clean (30 days) -> lake.merchants (partition ds=run date).

    spark-submit main.py --run-date 2024-05-01 --base-path s3://.../lake
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from finsight_spark.cli import batch_parser, require
from finsight_spark.dates import ds, ds_window
from finsight_spark.dq import expect_all, expect_unique
from finsight_spark.io import latest_partition_before, read_table, write_partition
from finsight_spark.session import build_session
from finsight_spark.tables import MERCHANTS, PAYMENTS_CLEAN
from merchant_enrichment.transforms import OUTPUT_TABLE, PAYMENTS_TABLE, WINDOW_DAYS, merchants

JOB = "merchant_enrichment"


def build_parser() -> argparse.ArgumentParser:
    return batch_parser(JOB, "Profile every merchant paid in the last 30 days into lake.merchants.")


def run(spark: SparkSession, args: argparse.Namespace) -> str:
    """Compute, check and write the run date's partition; return its path.

    The newest partition before the run date keeps `onboarded_at` stable as the window moves on.
    """
    day = ds(args.run_date)
    first, last = ds_window(args.run_date, WINDOW_DAYS)
    payments = read_table(spark, args.base_path, PAYMENTS_TABLE, ds_from=first, ds_to=last, schema=PAYMENTS_CLEAN)
    previous_ds = latest_partition_before(spark, args.base_path, OUTPUT_TABLE, day)
    if previous_ds is None:  # the first run
        previous = spark.createDataFrame([], MERCHANTS)
    else:
        previous = read_table(spark, args.base_path, OUTPUT_TABLE, ds_from=previous_ds, ds_to=previous_ds)
    profiles = merchants(payments, previous).cache()
    expect_unique(profiles, ["merchant_id"], table=OUTPUT_TABLE)
    expect_all(
        profiles,
        {
            "four-digit category code": F.length("mcc") == 4,
            "onboarded before the last payment": F.col("onboarded_at") <= F.col("updated_at"),
            "paid out in a currency": F.col("settlement_currency").isNotNull(),
        },
        table=OUTPUT_TABLE,
    )
    path = write_partition(profiles, args.base_path, OUTPUT_TABLE, ds=day)
    profiles.unpersist()
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    require(parser, args, "base_path")
    run(build_session(JOB, master=args.master), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
