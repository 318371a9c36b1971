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
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = "dbt/models/marts/payments/fct_payments.sql"
BUCKET = "finsight-dev-build-cache"  # graphbuild.toml [cache.remote]


@contextmanager
def local_s3() -> Iterator[dict[str, str]]:
    """moto's S3 server on a free port, and the environment that points graphbuild at it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        env = {
            "AWS_ENDPOINT_URL_S3": url,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "GRAPHBUILD_CACHE_HMAC_KEY": "bench-signing-key",
        }
        import boto3

        boto3.client("s3", endpoint_url=url, region_name="eu-west-1", aws_access_key_id="bench", aws_secret_access_key="bench").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        yield env
    finally:
        server.terminate()
        server.wait(10)


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
        "change_s": round(change_s, 1),
        "change_actions": change["actions"],
        "change_ran": sum(not r["cached"] for r in change["results"]),
        "change_targets": sorted({r["target"] for r in change["results"] if not r["cached"]}),
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
