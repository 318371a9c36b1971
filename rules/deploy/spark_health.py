"""Health and drift of Spark jobs on the local backend (``MONITOR`` of ``rules.deploy.spark_local``).

Health: a streaming job (its ``start`` step) must be running the artifact the plan published; its query
progress (input rate, batch latency) comes from ``streams/<job>.progress.json`` when the backend writes
one, as Structured Streaming's ``lastProgress`` (``inputRowsPerSecond``, ``durationMs.triggerExecution``).
The embedded local backend runs no query, so without that file ``stream_progress`` is reported
*skipped: no progress source*, never passed.

Drift: ``artifacts/<job>/current.json`` must name the plan's fingerprint and a zip whose sha256 is the
digest it records; a streaming job's record must say it runs that artifact.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from graphbuild.plan.definition import Step
from graphbuild.plan.monitor import Check, Drift, MonitorContext

__all__ = ["drift", "health"]


def health(steps: Sequence[Step], ctx: MonitorContext) -> Iterator[Check]:
    """``stream_state`` and ``stream_progress`` of each deployed streaming job."""
    for step in steps:
        if step.operation != "apply" or step.name != "start":
            continue
        job = step.request["job"]
        state = _read_json(ctx.backend_dir / "streams" / f"{job}.json") or {}
        current = _read_json(ctx.backend_dir / "artifacts" / job / "current.json") or {}
        running = state.get("state") == "running" and state.get("artifact") == current.get("digest")
        yield Check.of(step.label, "stream_state", "passed" if running else "failed",
                       f"{job}: {state.get('state', 'unknown')} on sha256:{str(state.get('artifact'))[:12]}")
        yield _progress(step.label, job, _read_json(ctx.backend_dir / "streams" / f"{job}.progress.json"))


def _progress(label: str, job: str, progress: dict[str, Any] | None) -> Check:
    if progress is None:
        return Check.of(label, "stream_progress", "skipped", f"{job}: no progress source on this backend")
    rate = float(progress.get("inputRowsPerSecond") or 0.0)
    latency = float((progress.get("durationMs") or {}).get("triggerExecution") or 0.0)
    return Check.of(label, "stream_progress", "passed", f"{job}: {rate:.1f} rows/s, batch {latency:.0f} ms",
                    input_rate=rate, batch_latency_ms=latency)


def drift(steps: Sequence[Step], ctx: MonitorContext) -> Iterator[Drift]:
    """The published artifact (and a stream's) against the plan's fingerprint and the zip's digest."""
    for step in steps:
        if step.operation != "apply" or step.name not in ("publish", "start"):
            continue
        job = step.request["job"]
        folder = ctx.backend_dir / "artifacts" / job
        current = _read_json(folder / "current.json")
        if step.name == "publish":
            if current is None or current.get("fingerprint") != step.fingerprint:
                yield Drift(step.label, "artifact", f"{job} at {step.fingerprint[:12]}",
                            f"{job} at {str((current or {}).get('fingerprint', 'none'))[:12]}")
            elif _digest(folder / f"{current['digest']}.zip") != current["digest"]:
                yield Drift(step.label, "artifact", f"{current['digest'][:12]}.zip", "changed or missing")
            continue
        state = _read_json(ctx.backend_dir / "streams" / f"{job}.json") or {}
        if current is not None and state.get("artifact") != current.get("digest"):
            yield Drift(step.label, "stream", f"{job} runs sha256:{current['digest'][:12]}",
                        f"{job} runs sha256:{str(state.get('artifact'))[:12]} ({state.get('state', 'unknown')})")


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
