"""``spark_job`` on the local backend: the job's zip published by digest into the environment's artifact store.

``publish`` (phase ARTIFACTS, pointer-revertible) carries the job's files (its folder without tests) and
the library modules it imports (``spark/lib/finsight_spark``); the handler builds the same deterministic
zip as the ``package`` check (``rules.checks.spark_package.build_package``) from exactly those bytes,
stores it as ``artifacts/<job>/<sha256>.zip`` and then moves ``artifacts/<job>/current.json`` (digest,
fingerprint) to it. ``artifacts/<job>/fingerprints/<fingerprint>.json`` remembers which zip a version
built, so re-applying an earlier step (a rollback) only moves ``current.json`` back: nothing is rebuilt
and no file is read from the state store::

    artifacts/payments_clean/3f0c...e1.zip
    artifacts/payments_clean/current.json   {"digest": "3f0c...e1", "fingerprint": "...", "job": "payments_clean"}

A streaming job (``mode="streaming"``) gets ``stop`` before ``publish`` and ``start`` after, in the same
phase: ``streams/<job>.json`` records its state (``stopped``/``running``), the artifact it runs, its
checkpoint location (``checkpoints/<job>/<state digest>``: versions with the same query state shape share
it, so the restarted query resumes where the old one stopped; a new state shape gets a new checkpoint
seeded from the old one's committed offsets, and a change of sources is refused at plan time: see
``rules.deploy.streaming_compat``) and when it stopped and started, so the interruption is measured.
``retire`` removes ``current.json`` (the zips stay for a rollback) and marks the stream ``retired``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graphbuild.errors import DeployError
from graphbuild.plan.definition import DeployContext, DeployPlanContext, Phase, Reversibility, Step, StepSpec
from graphbuild.values import thaw
from rules.deploy.local import require_local, write_if_changed, write_json
from rules.deploy.airflow_local import library_files
from rules.deploy.streaming_compat import hand_over, stream_request
from rules.spark import _job_root  # one definition of where a job's package lives

__all__ = ["STOP_S", "START_S", "publish", "publish_steps", "start", "stop"]

_MODULE = "rules.deploy.spark_local:"
MONITOR = "rules.deploy.spark_health"  # its health and drift checks (graphbuild.plan.monitor)
_TESTS = "tests"
# Estimates of a streaming restart: a graceful stop waits for the running micro-batch; a start reads the
# checkpoint, plans the query and runs its first batch. The platform's goal for the whole gap is 2 minutes.
STOP_S = 30.0
PUBLISH_S = 5.0
START_S = 45.0
INTERRUPTION_GOAL_S = 120.0


def publish_steps(target: Any, ctx: DeployPlanContext) -> tuple[StepSpec, ...]:
    """``publish`` for a batch job; ``stop``, ``publish``, ``start`` for a streaming one."""
    require_local(ctx, "spark", others=("emr-serverless",))
    if ctx.backend == "emr-serverless":
        from rules.deploy.spark_emr import publish_steps as emr_steps

        return emr_steps(target, ctx)
    request = package_request(target, ctx.head)
    files = tuple(sorted({*request["files"], *library_files(ctx.head.graph, target.label)}))
    publish_spec = StepSpec.of("publish", Phase.ARTIFACTS, _MODULE + "publish", request, files=files,
                               reversibility=Reversibility.POINTER, estimate_s=PUBLISH_S)
    if request["mode"] != "streaming":
        return (publish_spec,)
    job = request["job"]
    # the checkpoint follows the query's state shape; refused changes fail here, before anything runs
    stream, handover = stream_request(target, ctx.head, ctx.base)
    gap = STOP_S + PUBLISH_S + START_S
    note = (f"streaming job {job} is stopped for the publish: expected interruption ~{gap:.0f} s "
            f"(goal < {INTERRUPTION_GOAL_S:.0f} s); {handover}")
    return (
        StepSpec.of("stop", Phase.ARTIFACTS, _MODULE + "stop", stream, reversibility=Reversibility.POINTER,
                    estimate_s=STOP_S, notes=(note,)),
        publish_spec,
        StepSpec.of("start", Phase.ARTIFACTS, _MODULE + "start", stream, reversibility=Reversibility.POINTER,
                    estimate_s=START_S),
    )


def package_request(target: Any, head: Any) -> dict[str, Any]:
    """The request of the ``package`` check (``rules.spark``), from the fingerprinted graph alone."""
    settings = thaw(head.globals).get("rule settings", {})
    roots = tuple(r.strip("/") for r in settings.get("python", {}).get("source_roots", ("",)))
    tests = str(settings.get("spark", {}).get("tests", _TESTS)).strip("/")
    folder = target.label.package
    job_root = _job_root(folder, roots)
    libraries = library_files(head.graph, target.label)
    attributes = target.attributes
    return {
        "job": target.label.name,
        "folder": folder,
        "job_root": job_root,
        "library_roots": [r for r in roots if r != job_root and any(p.startswith(r + "/") for p in libraries)],
        "files": [p for p in target.sources if p.startswith(folder + "/") and not p.startswith(f"{folder}/{tests}/")],
        "main": str(attributes["main"]),
        "mode": str(attributes["mode"]),
        "reads": list(attributes["reads"]),
        "writes": list(attributes["writes"]),
    }


# --------------------------------------------------------------------------------------------------
# Handlers


def publish(step: Step, ctx: DeployContext) -> str:
    """Build the job's zip from the step's files, store it by sha256 and point ``current.json`` at it."""
    job = step.request["job"]
    store = ctx.backend_dir / "artifacts" / job
    current = store / "current.json"
    if step.operation == "retire":
        with ctx.fenced(step):
            current.unlink(missing_ok=True)
        return f"{job}: retired (current.json removed; its zips stay for a rollback)"
    known = _read_json(store / "fingerprints" / f"{step.fingerprint}.json")
    digest = known.get("digest") if known else None
    built = False
    if digest is None or not _is_intact(store / f"{digest}.zip", digest):
        data = build(step, ctx)
        digest = hashlib.sha256(data).hexdigest()
        write_if_changed(store / f"{digest}.zip", data)
        write_json(store / "fingerprints" / f"{step.fingerprint}.json", {"digest": digest, "fingerprint": step.fingerprint})
        built = True
    with ctx.fenced(step):  # the visible switch: refused if another deploy took the lease over
        moved = write_json(current, {"job": job, "digest": digest, "fingerprint": step.fingerprint, "artifact": f"{digest}.zip"})
    how = "built and published" if built else "already published"
    return f"{job}: {how} sha256:{digest}" + ("; current moved to it" if moved else "; already current")


def build(step: Step, ctx: DeployContext) -> bytes:
    """The package check's zip, built from the step's files materialized under the backend folder."""
    from rules.checks.spark_package import PackageError, build_package

    scratch = ctx.backend_dir / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="spark-package-", dir=scratch))
    try:
        _scratch_copy(step, ctx, work)
        return build_package(work, thaw(step.request))
    except PackageError as exc:
        raise DeployError(f"{step.request['job']}: cannot package: {exc}", file=exc.where.split(":")[0],
                          fix="run `graphbuild test` on the job: its package check names the problem") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _scratch_copy(step: Step, ctx: DeployContext, dest: Path) -> None:
    """The step's files under ``dest``: a throw-away build tree, so plain writes (no fsync) suffice."""
    for path, digest in sorted(step.files.items()):
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(ctx.read_blob(digest))


def stop(step: Step, ctx: DeployContext) -> str:
    """Stop the job's stream (gracefully: after the running micro-batch); a stopped stream stays as it is."""
    job = step.request["job"]
    path = ctx.backend_dir / "streams" / f"{job}.json"
    state = _read_json(path) or _new_stream(step, ctx)
    if step.operation == "retire":
        state.update(state="retired", stopped_at=state.get("stopped_at") if state["state"] != "running" else now())
        with ctx.fenced(step):
            write_json(path, state)
        return f"{job}: stream retired (checkpoint {state['checkpoint']} kept)"
    if state["state"] == "stopped":
        since = f"since {state['stopped_at']}" if state["stopped_at"] else "never started: nothing to stop"
        return f"{job}: stream already stopped ({since})"
    state.update(state="stopped", stopped_at=now())
    with ctx.fenced(step):
        write_json(path, state)
    return f"{job}: stream stopped at {state['stopped_at']} (checkpoint {state['checkpoint']})"


def start(step: Step, ctx: DeployContext) -> str:
    """Start the job's stream on the current artifact, from its checkpoint; a stream already running it stays."""
    job = step.request["job"]
    path = ctx.backend_dir / "streams" / f"{job}.json"
    state = _read_json(path) or _new_stream(step, ctx)
    if step.operation == "retire":
        return stop(step, ctx)
    current = _read_json(ctx.backend_dir / "artifacts" / job / "current.json")
    if current is None:
        raise DeployError(f"{job}: no published artifact to start", file=f"artifacts/{job}/current.json",
                          fix="run the job's publish step first (deploy resumes in plan order)")
    if state["state"] == "running" and state.get("artifact") == current["digest"]:
        return f"{job}: stream already running sha256:{current['digest']}"
    started = now()
    stopped = state.get("stopped_at") if state["state"] == "stopped" else started  # running an old one: restart
    if state["checkpoint"] != step.request["checkpoint"]:  # a new state shape: blue/green from committed offsets
        with ctx.fenced(step):
            state.update(hand_over(ctx.backend_dir, state["checkpoint"], step.request["checkpoint"]))
    gap = (datetime.fromisoformat(started) - datetime.fromisoformat(stopped)).total_seconds() if stopped else 0.0
    state.update(state="running", artifact=current["digest"], fingerprint=current["fingerprint"], started_at=started,
                 stopped_at=stopped, last_interruption_s=round(gap, 3))
    with ctx.fenced(step):
        write_json(path, state)
    after = f"after {gap:.1f} s stopped" if stopped else "first start"
    return f"{job}: stream running sha256:{current['digest']} from {state['checkpoint']} ({after})"


def now() -> str:
    """The clock the stream records use: UTC, ISO 8601 with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _new_stream(step: Step, ctx: DeployContext) -> dict[str, Any]:
    checkpoint = step.request["checkpoint"]
    (ctx.backend_dir / checkpoint).mkdir(parents=True, exist_ok=True)
    return {"job": step.request["job"], "state": "stopped", "artifact": None, "fingerprint": None,
            "checkpoint": checkpoint, "stopped_at": None, "started_at": None, "last_interruption_s": None}


def _is_intact(path: Path, digest: str) -> bool:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == digest
    except OSError:
        return False


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise DeployError(f"unreadable deploy record: {exc}", file=str(path),
                          fix="delete it and deploy again: the step rewrites it") from None
