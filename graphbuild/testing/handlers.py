"""Handlers for FakeRule's actions: their behaviour is written in the target's own files.

A source line ``FAIL reason`` fails the check, ``SLEEP s`` sleeps, ``CRASH`` raises, ``PRINT text``
prints, ``ARTIFACT text`` produces an artifact file holding the text. Each outcome's log records the process id, the time it started and finished and the size of
the batch, so tests can see reuse of workers, ordering and batching.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from graphbuild.run.action import HandlerContext

__all__ = ["fake_check"]


def fake_check(requests: list[dict[str, Any]], ctx: HandlerContext) -> list[dict[str, Any]]:
    outcomes = []
    for request in requests:
        start = time.time()
        failure = None
        artifacts: dict[str, str] = {}
        for path in request["sources"]:
            for line in (Path(ctx.root) / path).read_text().splitlines():
                word, _, rest = line.partition(" ")
                if word == "SLEEP":
                    time.sleep(float(rest))
                elif word == "FAIL":
                    failure = f"{path}: {rest}"
                elif word == "CRASH":
                    raise RuntimeError(f"crash requested by {path}")
                elif word == "PRINT":
                    print(rest)
                elif word == "ARTIFACT":
                    artifact = Path(ctx.scratch) / f"{len(artifacts)}.bin"
                    artifact.write_text(rest)
                    artifacts[f"artifact{len(artifacts)}"] = str(artifact)
        log = f"pid={os.getpid()} start={start:.6f} end={time.time():.6f} batch={len(requests)}"
        outcomes.append({"status": "failed" if failure else "passed", "summary": failure or "ok", "log": log, "artifacts": artifacts})
    return outcomes
