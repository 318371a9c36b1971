"""Entry point of card_fraud_scoring: card authorizations + fraud signals -> lake.card_fraud_scores.

    spark-submit main.py --run-date 2024-05-01 --base-path s3://.../lake
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import timedelta

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from card_fraud_scoring.transforms import AUTHORIZATIONS_TABLE, OUTPUT_TABLE, SIGNALS_TABLE, card_fraud_scores
from finsight_spark.cli import batch_parser, require
from finsight_spark.dates import ds
from finsight_spark.dq import expect_all, expect_unique
from finsight_spark.io import read_table, write_partition
from finsight_spark.session import build_session
from finsight_spark.tables import CARD_AUTHORIZATIONS_RAW, FRAUD_SIGNALS_RAW

JOB = "card_fraud_scoring"


def build_parser() -> argparse.ArgumentParser:
    return batch_parser(JOB, "Score one day of card authorizations into lake.card_fraud_scores.")


def run(spark: SparkSession, args: argparse.Namespace) -> str:
    """Compute and write the run date's partition; return its path."""
    day, previous = ds(args.run_date), ds(args.run_date - timedelta(days=1))
    authorizations = read_table(
        spark, args.base_path, AUTHORIZATIONS_TABLE, ds_from=previous, ds_to=day, schema=CARD_AUTHORIZATIONS_RAW
    )
    signals = read_table(spark, args.base_path, SIGNALS_TABLE, ds_from=previous, ds_to=day, schema=FRAUD_SIGNALS_RAW)
    scores = card_fraud_scores(authorizations, signals, args.run_date).cache()
    expect_unique(scores, ["authorization_id"], table=OUTPUT_TABLE)
    expect_all(
        scores,
        {"score in [0, 1]": F.col("fraud_score").between(0, 1), "banded": F.col("risk_band").isNotNull()},
        table=OUTPUT_TABLE,
    )
    path = write_partition(scores, args.base_path, OUTPUT_TABLE, ds=day)
    scores.unpersist()
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    require(parser, args, "base_path")
    run(build_session(JOB, master=args.master), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
