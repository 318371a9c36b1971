"""Entry point of settlement_batches: lake.payments_clean + lake.ledger_entries -> lake.settlements.

    spark-submit main.py --run-date 2024-05-01 --base-path s3://.../lake
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from finsight_spark.cli import batch_parser, require
from finsight_spark.dates import ds
from finsight_spark.dq import expect_all, expect_unique
from finsight_spark.io import read_table, write_partition
from finsight_spark.session import build_session
from finsight_spark.tables import LEDGER_ENTRIES, PAYMENTS_CLEAN
from settlement_batches.transforms import LEDGER_TABLE, OUTPUT_TABLE, PAYMENTS_TABLE, settlements

JOB = "settlement_batches"


def build_parser() -> argparse.ArgumentParser:
    return batch_parser(JOB, "Build the run date's merchant settlement lines, in daily batches, into lake.settlements.")


def run(spark: SparkSession, args: argparse.Namespace) -> str:
    """Compute, check and write the run date's partition; return its path.

    A payment the ledger has not posted does not fail the job: its line is written without a
    processor reference, and finance operations work the reconciliation breaks before payouts are
    released.
    """
    day = ds(args.run_date)
    payments = read_table(spark, args.base_path, PAYMENTS_TABLE, ds_from=day, ds_to=day, schema=PAYMENTS_CLEAN)
    ledger = read_table(spark, args.base_path, LEDGER_TABLE, ds_from=day, ds_to=day, schema=LEDGER_ENTRIES)
    lines = settlements(payments, ledger, args.run_date).cache()
    expect_unique(lines, ["settlement_id"], table=OUTPUT_TABLE)
    expect_all(
        lines,
        {
            "merchant identified": F.col("merchant_id").isNotNull() & (F.col("merchant_id") != ""),
            "service charge not above gross": F.col("fee_amount_minor").between(0, F.col("gross_amount_minor")),
            "net is gross less the service charge": F.col("net_amount_minor")
            == F.col("gross_amount_minor") - F.col("fee_amount_minor"),
        },
        table=OUTPUT_TABLE,
    )
    path = write_partition(lines, args.base_path, OUTPUT_TABLE, ds=day)
    lines.unpersist()
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    require(parser, args, "base_path")
    run(build_session(JOB, master=args.master), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
