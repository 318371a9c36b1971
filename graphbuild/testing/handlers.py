"""Handlers for FakeRule's actions: their behaviour is written in the target's own files.

A source line ``FAIL reason`` fails the check, ``SLEEP s`` sleeps, ``CRASH`` raises, ``PRINT text``
prints, ``ARTIFACT text`` produces an artifact file holding the text. Each outcome's log records the process id, the time it started and finished and the size of
the batch, so tests can see reuse of workers, ordering and batching.

``fake_deploy`` is FakeRule's deploy step: it keeps every version it was given under
``<backend_dir>/<target>/versions/<fingerprint>`` and points ``current`` at the one applied (a
rollback re-points, nothing is rebuilt); ``DEPLOY_FAIL reason`` fails it and ``DEPLOY_SLEEP s`` makes
it slow (to kill a deploy in the middle). Every call appends one line to ``<backend_dir>/calls.log``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from graphbuild.fsutil import atomic_write
from graphbuild.run.action import HandlerContext

__all__ = ["fake_check", "fake_deploy"]


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


def fake_deploy(step: Any, ctx: Any) -> str:
    """Apply (or retire) one FakeRule target version in ``ctx.backend_dir``; idempotent and atomic."""
    folder = Path(ctx.backend_dir) / step.label.strip("/").replace(":", "/")
    Path(ctx.backend_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(ctx.backend_dir) / "calls.log", "a") as log:
        log.write(f"{step.operation} {step.id} {step.fingerprint[:12]}\n")
    if step.operation == "retire":
        (folder / "current").unlink(missing_ok=True)
        return "retired"
    contents = {path: ctx.read_blob(digest) for path, digest in sorted(step.files.items())}
    for data in contents.values():
        for line in data.decode("utf-8", "replace").splitlines():
            word, _, rest = line.partition(" ")
            if word == "DEPLOY_SLEEP":
                time.sleep(float(rest))
            elif word == "DEPLOY_FAIL":
                raise RuntimeError(rest or "deploy failure requested")
    version = folder / "versions" / step.fingerprint
    built = not version.exists()
    if built:
        atomic_write(version, b"".join(contents.values()))
    atomic_write(folder / "current", step.fingerprint)
    return f"{'built' if built else 'reused'} {step.fingerprint[:12]}"
