"""Entry point of payments_clean: lake.payments_raw + lake.fx_rates_daily -> lake.payments_clean.

    spark-submit main.py --run-date 2024-05-01 --base-path s3://.../lake
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import timedelta

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from finsight_spark.cli import batch_parser, require
from finsight_spark.dates import ds
from finsight_spark.dq import expect_all, expect_unique
from finsight_spark.io import read_table, write_partition
from finsight_spark.session import build_session
from finsight_spark.tables import FX_RATES_DAILY, PAYMENTS_RAW
from payments_clean.transforms import FX_MAX_AGE_DAYS, FX_TABLE, OUTPUT_TABLE, RAW_TABLE, payments_clean

JOB = "payments_clean"


def build_parser() -> argparse.ArgumentParser:
    return batch_parser(JOB, "Clean one day of payment events and convert them to USD into lake.payments_clean.")


def run(spark: SparkSession, args: argparse.Namespace) -> str:
    """Compute and write the run date's partition; return its path."""
    day = ds(args.run_date)
    raw = read_table(spark, args.base_path, RAW_TABLE, ds_from=day, ds_to=day, schema=PAYMENTS_RAW)
    # Events of the day can carry yesterday's event time, whose rate may be a week older still.
    fx_from = ds(args.run_date - timedelta(days=FX_MAX_AGE_DAYS + 1))
    fx_daily = read_table(spark, args.base_path, FX_TABLE, ds_from=fx_from, ds_to=day, schema=FX_RATES_DAILY)
    clean = payments_clean(raw, fx_daily).cache()
    expect_unique(clean, ["payment_id"], table=OUTPUT_TABLE)
    expect_all(
        clean,
        {
            "a USD rate exists for every currency": F.col("amount_usd").isNotNull(),
            "created before last update": F.col("created_at") <= F.col("updated_at"),
        },
        table=OUTPUT_TABLE,
    )
    path = write_partition(clean, args.base_path, OUTPUT_TABLE, ds=day)
    clean.unpersist()
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    require(parser, args, "base_path")
    run(build_session(JOB, master=args.master), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
