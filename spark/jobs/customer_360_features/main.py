"""Entry point of customer_360_features: accounts + payments + fraud scores -> lake.customer_features.

    spark-submit main.py --run-date 2024-05-01 --base-path s3://.../lake
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_360_features.transforms import (
    ACCOUNTS_TABLE,
    OUTPUT_TABLE,
    PAYMENTS_TABLE,
    SCORES_TABLE,
    WINDOW_DAYS,
    customer_features,
)
from finsight_spark.cli import batch_parser, require
from finsight_spark.dates import ds, ds_window
from finsight_spark.dq import expect_all, expect_unique
from finsight_spark.io import read_table, require_partition, write_partition
from finsight_spark.session import build_session
from finsight_spark.tables import CARD_FRAUD_SCORES, PAYMENTS_CLEAN

JOB = "customer_360_features"


def build_parser() -> argparse.ArgumentParser:
    return batch_parser(JOB, "Compute the run date's customer 360 features into lake.customer_features.")


def run(spark: SparkSession, args: argparse.Namespace) -> str:
    """Compute, check and write the run date's partition; return its path."""
    day = ds(args.run_date)
    first, last = ds_window(args.run_date, WINDOW_DAYS)
    require_partition(spark, args.base_path, ACCOUNTS_TABLE, day)
    accounts = read_table(spark, args.base_path, ACCOUNTS_TABLE, ds_from=day, ds_to=day)
    payments = read_table(spark, args.base_path, PAYMENTS_TABLE, ds_from=first, ds_to=last, schema=PAYMENTS_CLEAN)
    scores = read_table(spark, args.base_path, SCORES_TABLE, ds_from=first, ds_to=last, schema=CARD_FRAUD_SCORES)
    features = customer_features(accounts, payments, scores, args.run_date).cache()
    expect_unique(features, ["customer_id"], table=OUTPUT_TABLE)
    expect_all(
        features,
        {
            "tenure known": F.col("tenure_days") >= 0,
            "scores are probabilities": F.col("max_fraud_score_90d").isNull()
            | F.col("max_fraud_score_90d").between(0, 1),
        },
        table=OUTPUT_TABLE,
    )
    path = write_partition(features, args.base_path, OUTPUT_TABLE, ds=day)
    features.unpersist()
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    require(parser, args, "base_path")
    run(build_session(JOB, master=args.master), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
