"""The Spark monitor: a streaming job's state and progress (skipped without a progress source), artifact drift."""

from __future__ import annotations

import json
from pathlib import Path

from graphbuild.plan.definition import Phase, Plan, Reversibility, Step
from graphbuild.plan.monitor import MonitorContext
from graphbuild.values import FrozenDict, freeze
from rules.deploy.spark_health import drift, health

FP = "f" * 32


def step(name: str) -> Step:
    return Step(key=name, label="//spark/jobs/clean:clean", name=name, phase=Phase.ARTIFACTS, handler=f"rules.deploy.spark_local:{name}",
                request=freeze({"job": "clean"}), files=FrozenDict(), reversibility=Reversibility.POINTER, estimate_s=1.0, fingerprint=FP)


def context(backend: Path) -> MonitorContext:
    plan = Plan("dev", "0" * 40, "li.wei", None, freeze({"//spark/jobs/clean:clean": FP}), ())
    return MonitorContext("dev", backend, backend, FrozenDict(), plan, None, FrozenDict(), lambda digest: b"")


def write(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def test_no_progress_source_is_skipped_never_passed(tmp_path):
    write(tmp_path / "artifacts/clean/current.json", {"digest": "d1", "fingerprint": FP})
    write(tmp_path / "streams/clean.json", {"state": "running", "artifact": "d1"})
    checks = {c.check: c for c in health([step("stop"), step("publish"), step("start")], context(tmp_path))}
    assert checks["stream_state"].status == "passed"
    assert checks["stream_progress"].status == "skipped" and "no progress source" in checks["stream_progress"].detail


def test_progress_gives_input_rate_and_batch_latency_and_a_stopped_stream_fails(tmp_path):
    write(tmp_path / "artifacts/clean/current.json", {"digest": "d1", "fingerprint": FP})
    write(tmp_path / "streams/clean.json", {"state": "stopped", "artifact": "d1"})
    write(tmp_path / "streams/clean.progress.json", {"inputRowsPerSecond": 812.5, "durationMs": {"triggerExecution": 420}})
    checks = {c.check: c for c in health([step("start")], context(tmp_path))}
    assert checks["stream_state"].status == "failed"
    assert checks["stream_progress"].status == "passed"
    assert dict(checks["stream_progress"].metrics) == {"batch_latency_ms": 420.0, "input_rate": 812.5}


def test_drift_on_a_replaced_zip_and_a_moved_current(tmp_path):
    zip_bytes = b"PK fake zip"
    import hashlib

    digest = hashlib.sha256(zip_bytes).hexdigest()
    write(tmp_path / "artifacts/clean/current.json", {"digest": digest, "fingerprint": FP})
    (tmp_path / f"artifacts/clean/{digest}.zip").write_bytes(zip_bytes)
    assert list(drift([step("publish")], context(tmp_path))) == []
    (tmp_path / f"artifacts/clean/{digest}.zip").write_bytes(b"PK swapped")
    assert [d.what for d in drift([step("publish")], context(tmp_path))] == ["artifact"]
    write(tmp_path / "artifacts/clean/current.json", {"digest": digest, "fingerprint": "e" * 32})
    assert [d.found for d in drift([step("publish")], context(tmp_path))] == ["clean at eeeeeeeeeeee"]
