"""Entry point of aml_features: transfers + KYC events + accounts snapshot -> lake.aml_features.

    spark-submit main.py --run-date 2024-05-01 --base-path s3://.../lake
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from aml_features.transforms import (
    ACCOUNTS_TABLE,
    KYC_LOOKBACK_DAYS,
    KYC_TABLE,
    OUTPUT_TABLE,
    TRANSFERS_TABLE,
    WINDOW_DAYS,
    aml_features,
    latest_transfers,
    transfer_legs,
)
from finsight_spark.cli import batch_parser, require
from finsight_spark.dates import ds, ds_window
from finsight_spark.dq import expect_all, expect_unique
from finsight_spark.io import read_table, require_partition, write_partition
from finsight_spark.session import build_session
from finsight_spark.tables import KYC_EVENTS, TRANSFERS

JOB = "aml_features"


def build_parser() -> argparse.ArgumentParser:
    return batch_parser(JOB, "Compute the run date's AML transaction-monitoring features into lake.aml_features.")


def run(spark: SparkSession, args: argparse.Namespace) -> str:
    """Compute, check and write the run date's partition; return its path."""
    day = ds(args.run_date)
    first, last = ds_window(args.run_date, WINDOW_DAYS)
    transfers = read_table(spark, args.base_path, TRANSFERS_TABLE, ds_from=first, ds_to=last, schema=TRANSFERS)
    kyc_first, _ = ds_window(args.run_date, KYC_LOOKBACK_DAYS)
    kyc = read_table(spark, args.base_path, KYC_TABLE, ds_from=kyc_first, ds_to=day, schema=KYC_EVENTS)
    # The snapshot of the run date must exist: monitoring on a stale account list would miss accounts.
    require_partition(spark, args.base_path, ACCOUNTS_TABLE, day)
    accounts = read_table(spark, args.base_path, ACCOUNTS_TABLE, ds_from=day, ds_to=day)
    # A value left out of the USD sums would understate a customer's activity: stop instead.
    expect_all(
        transfer_legs(latest_transfers(transfers, args.run_date), accounts, args.run_date),
        {"every currency has a monitoring rate": F.col("usd_rate").isNotNull()},
        table=OUTPUT_TABLE,
    )
    features = aml_features(transfers, kyc, accounts, args.run_date).cache()
    expect_unique(features, ["customer_id"], table=OUTPUT_TABLE)
    expect_all(
        features,
        {
            "non-negative values": (F.col("inbound_amount_usd_30d") >= 0) & (F.col("outbound_amount_usd_30d") >= 0),
            "high-risk transfers within all transfers": F.col("high_risk_country_transfers_30d")
            <= F.col("txn_count_30d"),
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
