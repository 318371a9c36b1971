"""Entry point of chargeback_ingest: lake.payments_clean (run date) -> lake.chargebacks (partition ds=run date).

    spark-submit main.py --run-date 2024-05-01 --base-path s3://.../lake
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from chargeback_ingest.transforms import OUTPUT_TABLE, PAYMENTS_TABLE, charged_back_payments, published
from finsight_spark.cli import batch_parser, require
from finsight_spark.dates import ds
from finsight_spark.dq import expect_all, expect_unique
from finsight_spark.io import read_table, write_partition
from finsight_spark.schemas import conform
from finsight_spark.session import build_session
from finsight_spark.tables import CHARGEBACKS, PAYMENTS_CLEAN

JOB = "chargeback_ingest"


def build_parser() -> argparse.ArgumentParser:
    return batch_parser(JOB, "Extract the run date's chargebacks into lake.chargebacks.")


def run(spark: SparkSession, args: argparse.Namespace) -> str:
    """Compute, check and write the run date's partition; return its path."""
    day = ds(args.run_date)
    payments = read_table(spark, args.base_path, PAYMENTS_TABLE, ds_from=day, ds_to=day, schema=PAYMENTS_CLEAN)
    charged_back = charged_back_payments(payments, args.run_date).cache()
    expect_all(
        charged_back,
        {
            "charged back after the payment": F.col("days_to_chargeback") >= 0,
            "disputed amount known": F.col("amount_minor").isNotNull() & F.col("currency").isNotNull(),
        },
        table=OUTPUT_TABLE,
    )
    result = conform(published(charged_back), CHARGEBACKS)
    expect_unique(result, ["chargeback_id"], table=OUTPUT_TABLE)
    path = write_partition(result, args.base_path, OUTPUT_TABLE, ds=day)
    charged_back.unpersist()
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    require(parser, args, "base_path")
    run(build_session(JOB, master=args.master), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
