"""Benchmark: `graphbuild query affected --since HEAD~1` on this workspace, cold and warm.

Cold: no persistent fact cache (every file parsed: SQL, Python, Avro, HCL, YAML).
Warm: the fact cache primed by a previous run (the second run reads nothing it has seen).
Each figure is the median wall time of whole CLI processes (Python start-up included).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRAPHBUILD = [sys.executable, "-m", "graphbuild.cli"]


def timed(args: list[str], runs: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run([*GRAPHBUILD, *args], cwd=ROOT, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"graphbuild {' '.join(args)} failed:\n{done.stderr}")
        out = done.stdout
    return statistics.median(times), out


def main() -> dict[str, object]:
    query = ["query", "affected", "--since", "HEAD~1", "--format", "json"]
    cold, out = timed(["--no-cache", *query], runs=5)
    timed(query, runs=1)  # prime the fact cache
    warm, _ = timed(query, runs=7)
    targets, _ = timed(["query", "//..."], runs=1)
    count = len(subprocess.run([*GRAPHBUILD, "query", "//..."], cwd=ROOT, capture_output=True, text=True).stdout.split())
    result = {
        "targets": count,
        "affected": len(json.loads(out)["affected"]),
        "cold_s": round(cold, 3),
        "warm_s": round(warm, 3),
    }
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
