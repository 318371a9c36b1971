"""Benchmark: the BUILD reader on 100 KB of hostile input (the tests only check the outcome)."""

from __future__ import annotations

import json
import time

from graphbuild.buildfiles import parse_build_file
from graphbuild.errors import BuildFileError
from tests.test_buildfiles import HOSTILE


def main() -> dict[str, object]:
    worst = 0.0
    for text in HOSTILE:
        start = time.perf_counter()
        try:
            parse_build_file("BUILD", text)
        except BuildFileError:
            pass
        worst = max(worst, time.perf_counter() - start)
    return {"inputs": len(HOSTILE), "largest_bytes": max(len(t) for t in HOSTILE), "worst_s": round(worst, 4)}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
