"""Benchmark: Spark job tests in one persistent worker (one JVM) against a fresh process per job."""

from __future__ import annotations

import json
from pathlib import Path

from rules.checks.spark import bench_worker_vs_per_job

ROOT = Path(__file__).resolve().parent.parent
JOBS = ["chargeback_ingest", "transfers_ingest", "kyc_ingest", "fx_rates_daily", "payments_stream_ingest"]


def main() -> dict[str, object]:
    return bench_worker_vs_per_job(ROOT, JOBS)


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, default=str))
