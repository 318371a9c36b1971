"""Benchmark: `graphbuild test //...` on fresh clones of this repository, with the shared remote cache.

Measured: the cold full run (empty caches; it writes the remote cache, as CI on main does), the warm
no-op run (everything replayed from the local cache), a *second* fresh clone with an empty local cache
and the warm remote (an engineer's first run, or a new CI machine), and the run after a one-model
change (`--since HEAD`: only the model, its dependents and their DAGs run). The remote is moto's S3
server on 127.0.0.1, reached over HTTP like AWS; clones keep the measurement away from the
developer's own cache.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from graphbuild.testing.s3 import moto_server

ROOT = Path(__file__).resolve().parent.parent
MODEL = "dbt/models/marts/payments/fct_payments.sql"
BUCKET = "finsight-dev-build-cache"  # graphbuild.toml [cache.remote]


@contextmanager
def local_s3() -> Iterator[dict[str, str]]:
    """moto's S3 server, the cache bucket in it, and the environment that points graphbuild at it."""
    import boto3

    with moto_server() as url:
        credentials = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
        boto3.client("s3", endpoint_url=url, region_name="eu-west-1", **credentials).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        yield {
            "AWS_ENDPOINT_URL_S3": url,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "GRAPHBUILD_CACHE_HMAC_KEY": "bench-signing-key",
        }


def _graphbuild(clone: Path, env: dict[str, str], *args: str) -> tuple[float, dict]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "graphbuild.cli", "-C", str(clone), "--format", "json", "test", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"graphbuild test failed to run:\n{done.stderr[-3000:]}")
    return elapsed, json.loads(done.stdout)


def main() -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="graphbuild-bench-") as tmp, local_s3() as s3:
        ci, laptop = Path(tmp) / "ci", Path(tmp) / "laptop"
        for clone in (ci, laptop):
            subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        cold_s, cold = _graphbuild(ci, s3, "//...", "--keep-going", "--remote-cache", "write")
        warm_s, warm = _graphbuild(ci, s3, "//...", "--remote-cache", "read")
        remote_s, remote = _graphbuild(laptop, s3, "//...", "--remote-cache", "read")
        # an outage: the Kafka and Terraform checks on two more fresh clones, without a remote and with one
        # that accepts connections and never answers
        subset = ("//kafka/...", "//terraform/...")
        for name in ("no-remote", "outage"):
            subprocess.run(["git", "clone", "-q", str(ROOT), str(Path(tmp) / name)], check=True)
        baseline_s, _ = _graphbuild(Path(tmp) / "no-remote", s3, *subset, "--remote-cache", "off")
        with socket.socket() as dead:
            dead.bind(("127.0.0.1", 0))
            dead.listen(64)
            outage = {**s3, "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{dead.getsockname()[1]}"}
            outage_s, outage_run = _graphbuild(Path(tmp) / "outage", outage, *subset, "--remote-cache", "read")
        path = ci / MODEL  # a real change of the SQL body (the incremental window's floor)
        text = path.read_text()
        assert "1900-01-01" in text, f"{MODEL} changed; pick another edit for the benchmark"
        path.write_text(text.replace("1900-01-01", "1970-01-01"))
        change_s, change = _graphbuild(ci, s3, "--since", "HEAD", "--keep-going", "--remote-cache", "read")
    return {
        "cold_s": round(cold_s, 1),
        "cold_actions": cold["actions"],
        "cold_failed": cold["failed"],
        "cold_skipped": cold["skipped"],
        "cold_uploaded": cold["cache"]["uploads"],
        "cold_bytes_up": cold["cache"]["bytes_up"],
        "warm_s": round(warm_s, 2),
        "warm_cached": warm["cached"],
        "warm_actions": warm["actions"],
        "remote_s": round(remote_s, 2),
        "remote_hits": remote["cache"]["remote_hits"],
        "remote_ran": sum(not r["cached"] for r in remote["results"]),
        "remote_bytes_down": remote["cache"]["bytes_down"],
        "remote_rejected": len(remote["cache"]["rejected"]),
        "remote_ratio": round(remote_s / cold_s, 4),
        "outage_s": round(outage_s, 2),
        "outage_baseline_s": round(baseline_s, 2),
        "outage_actions": outage_run["actions"],
        "outage_failed": outage_run["failed"],
        "outage_errors": outage_run["cache"]["remote_errors"],
        "outage_warnings": outage_run["cache"]["warnings"],
        "change_s": round(change_s, 1),
        "change_actions": change["actions"],
        "change_ran": sum(not r["cached"] for r in change["results"]),
        "change_targets": sorted({r["target"] for r in change["results"] if not r["cached"]}),
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
