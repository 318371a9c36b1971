"""Benchmark: `graphbuild test //...` on a fresh clone of this repository.

Measured: the cold full run (empty cache), the warm no-op run (everything replayed from the cache)
and the run after a one-model change (`--since HEAD`: only the model, its dependents and their
DAGs run). The clone keeps the measurement away from the developer's own cache.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = "dbt/models/marts/payments/fct_payments.sql"


def _graphbuild(clone: Path, *args: str) -> tuple[float, dict]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "graphbuild.cli", "-C", str(clone), "--format", "json", "test", *args],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"graphbuild test failed to run:\n{done.stderr[-3000:]}")
    return elapsed, json.loads(done.stdout)


def main() -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="graphbuild-bench-") as tmp:
        clone = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        cold_s, cold = _graphbuild(clone, "//...", "--keep-going")
        warm_s, warm = _graphbuild(clone, "//...")
        path = clone / MODEL  # a real change of the SQL body (the incremental window's floor)
        text = path.read_text()
        assert "1900-01-01" in text, f"{MODEL} changed; pick another edit for the benchmark"
        path.write_text(text.replace("1900-01-01", "1970-01-01"))
        change_s, change = _graphbuild(clone, "--since", "HEAD", "--keep-going")
    return {
        "cold_s": round(cold_s, 1),
        "cold_actions": cold["actions"],
        "cold_failed": cold["failed"],
        "cold_skipped": cold["skipped"],
        "warm_s": round(warm_s, 2),
        "warm_cached": warm["cached"],
        "warm_actions": warm["actions"],
        "change_s": round(change_s, 1),
        "change_actions": change["actions"],
        "change_ran": sum(not r["cached"] for r in change["results"]),
        "change_targets": sorted({r["target"] for r in change["results"] if not r["cached"]}),
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
