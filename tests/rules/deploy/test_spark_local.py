"""``spark_job`` on the local backend: content-addressed publishing, rollback by pointer, streaming stop and start."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphbuild.errors import DeployError, FencingError
from graphbuild.labels import Label
from graphbuild.plan.definition import Phase, Reversibility
from graphbuild.rule import RuleContext
from graphbuild.testing.handlers import fenced_out
from graphbuild.values import thaw
from rules.checks.spark_package import build_package
from tests.rules.deploy.steps import platform as shared_platform
from tests.rules.deploy.steps import REPO_ROOT, Store, bind, deploy_context, plan_context, run, steps_of, tree

BATCH = "//spark/jobs/payments_clean:payments_clean"
STREAMING = "//spark/jobs/payments_stream_ingest:payments_stream_ingest"


@pytest.fixture(scope="module")
def platform() -> tuple[Any, Any]:
    return shared_platform()


def _steps(platform: tuple[Any, Any], label: str) -> dict[str, Any]:
    session, head = platform
    return {spec.name: spec for spec in steps_of(session, label, plan_context(head))}


def _current(backend: Path, job: str) -> dict[str, Any]:
    return json.loads((backend / "artifacts" / job / "current.json").read_text())


def _zips(backend: Path, job: str) -> list[str]:
    return sorted(p.name for p in (backend / "artifacts" / job).glob("*.zip"))


def test_the_published_zip_is_the_package_checks_zip(platform: tuple[Any, Any], tmp_path: Path) -> None:
    """Built from the step's files alone, every job's artifact is byte for byte the ``package`` check's zip."""
    session, head = platform
    rule = session.registry.rules["spark"]
    rule_ctx = RuleContext(session.snapshot(), session.workspace.settings, session.workspace.settings.rule_settings("spark"))
    store = Store()
    ctx = deploy_context(tmp_path, store)
    jobs = [label for label, target in head.graph.targets.items() if target.kind == "spark_job"]
    assert len(jobs) >= 10
    for label in jobs:
        target = head.graph.targets[label]
        package = next(a for a in rule.actions(target, rule_ctx) if a.name == "package")
        expected = build_package(REPO_ROOT, thaw(package.request))
        publish = _steps(platform, str(label))["publish"]
        run(bind(publish, str(label), "v1", REPO_ROOT, store), ctx)
        digest = _current(tmp_path, label.name)["digest"]
        assert digest == hashlib.sha256(expected).hexdigest(), label
        assert (tmp_path / "artifacts" / label.name / f"{digest}.zip").read_bytes() == expected


def test_publish_is_content_addressed_and_rollback_only_moves_the_pointer(platform: tuple[Any, Any], tmp_path: Path) -> None:
    publish = _steps(platform, BATCH)["publish"]
    assert (publish.phase, publish.reversibility) == (Phase.ARTIFACTS, Reversibility.POINTER)
    assert not any("/tests/" in p for p in publish.files)
    assert any(p.startswith("spark/lib/finsight_spark/") for p in publish.files)
    job = "payments_clean"
    store = Store()
    ctx = deploy_context(tmp_path, store)
    v1 = bind(publish, BATCH, "fp-v1", REPO_ROOT, store)
    run(v1, ctx)
    run(v1, ctx)
    assert len(_zips(tmp_path, job)) == 1
    first = _current(tmp_path, job)

    transforms = "spark/jobs/payments_clean/transforms.py"
    v2 = bind(publish, BATCH, "fp-v2", REPO_ROOT, store,
              overrides={transforms: (REPO_ROOT / transforms).read_bytes() + b"\n# v2\n"})
    run(v2, ctx)
    second = _current(tmp_path, job)
    assert second["digest"] != first["digest"] and second["fingerprint"] == "fp-v2"
    assert len(_zips(tmp_path, job)) == 2

    reads = store.reads
    before = tree(tmp_path)
    assert "already published" in run(v1, ctx)  # rollback: the earlier step again
    assert store.reads == reads, "a rollback reads no file: nothing is rebuilt"
    assert _current(tmp_path, job) == first
    changed = {p for p in tree(tmp_path) if tree(tmp_path)[p] != before.get(p)}
    assert changed == {f"artifacts/{job}/current.json"}


def test_the_zip_is_byte_identical_across_runs_and_folders(platform: tuple[Any, Any], tmp_path: Path) -> None:
    publish = _steps(platform, BATCH)["publish"]
    digests = set()
    for run_number in range(2):
        store = Store()
        backend = tmp_path / f"env{run_number}"
        run(bind(publish, BATCH, "v1", REPO_ROOT, store), deploy_context(backend, store))
        (zip_name,) = _zips(backend, "payments_clean")
        digests.add(hashlib.sha256((backend / "artifacts/payments_clean" / zip_name).read_bytes()).hexdigest())
    assert len(digests) == 1


def test_a_damaged_artifact_is_rebuilt_not_served(platform: tuple[Any, Any], tmp_path: Path) -> None:
    publish = _steps(platform, BATCH)["publish"]
    store = Store()
    ctx = deploy_context(tmp_path, store)
    step = bind(publish, BATCH, "v1", REPO_ROOT, store)
    run(step, ctx)
    digest = _current(tmp_path, "payments_clean")["digest"]
    artifact = tmp_path / "artifacts/payments_clean" / f"{digest}.zip"
    artifact.write_bytes(b"truncated")
    assert "built and published" in run(step, ctx)
    assert hashlib.sha256(artifact.read_bytes()).hexdigest() == digest


def test_streaming_jobs_stop_before_the_publish_and_start_after(platform: tuple[Any, Any], tmp_path: Path) -> None:
    session, head = platform
    specs = steps_of(session, STREAMING, plan_context(head))
    assert [s.name for s in specs] == ["stop", "publish", "start"]
    assert {s.phase for s in specs} == {Phase.ARTIFACTS}
    (note,) = specs[0].notes
    assert "expected interruption" in note and "goal < 120 s" in note
    assert sum(s.estimate_s for s in specs) < 120
    assert [s.name for s in steps_of(session, BATCH, plan_context(head))] == ["publish"]

    job = "payments_stream_ingest"
    store = Store()
    ctx = deploy_context(tmp_path, store)
    state_file = tmp_path / "streams" / f"{job}.json"
    main = "spark/jobs/payments_stream_ingest/main.py"
    versions = {"v1": {}, "v2": {main: (REPO_ROOT / main).read_bytes() + b"\n# v2\n"}}
    states = []
    for fingerprint in ("v1", "v2", "v1"):  # a first deploy, an upgrade, a rollback
        steps = [bind(s, STREAMING, fingerprint, REPO_ROOT, store, overrides=versions[fingerprint]) for s in specs]
        run(steps[0], ctx)
        if states:  # a first deploy has nothing to stop
            assert json.loads(state_file.read_text())["state"] == "stopped"
        run(steps[1], ctx)
        run(steps[2], ctx)
        running = json.loads(state_file.read_text())
        assert running["state"] == "running"
        assert running["artifact"] == _current(tmp_path, job)["digest"]
        assert running["fingerprint"] == fingerprint
        run(steps[2], ctx)  # a resumed deploy: already running this artifact
        assert json.loads(state_file.read_text()) == running
        states.append(running)
    assert len({s["checkpoint"] for s in states}) == 1 and (tmp_path / states[0]["checkpoint"]).is_dir()
    for state in states[1:]:
        gap = datetime.fromisoformat(state["started_at"]) - datetime.fromisoformat(state["stopped_at"])
        assert gap.total_seconds() == pytest.approx(state["last_interruption_s"], abs=1e-3)
        assert 0 <= state["last_interruption_s"] < 120
    assert states[0]["artifact"] == states[2]["artifact"] != states[1]["artifact"]


def test_retire_removes_the_pointer_and_keeps_the_artifacts(platform: tuple[Any, Any], tmp_path: Path) -> None:
    session, head = platform
    specs = steps_of(session, STREAMING, plan_context(head))
    store = Store()
    ctx = deploy_context(tmp_path, store)
    for spec in specs:
        run(bind(spec, STREAMING, "v1", REPO_ROOT, store), ctx)
    for _ in range(2):
        for spec in specs:
            run(bind(spec, STREAMING, "v1", REPO_ROOT, store, operation="retire"), ctx)
    job = "payments_stream_ingest"
    assert not (tmp_path / "artifacts" / job / "current.json").exists()
    assert len(_zips(tmp_path, job)) == 1
    assert json.loads((tmp_path / "streams" / f"{job}.json").read_text())["state"] == "retired"


def test_an_unknown_backend_is_refused(platform: tuple[Any, Any]) -> None:
    session, head = platform
    with pytest.raises(DeployError, match=r"no deploy backend 'dataproc' \(it has: local, emr-serverless\)"):
        steps_of(session, BATCH, plan_context(head, backend="dataproc"))
    target = head.graph.targets[Label.parse("//kafka/topics:fx.rates.v1")]
    assert tuple(session.registry.rules["spark"].deploy_steps(target, plan_context(head))) == ()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, 2), min_size=1, max_size=6))
def test_current_always_names_the_last_applied_version(platform: tuple[Any, Any], tmp_path_factory: Any,
                                                       order: list[int]) -> None:
    """Publishing versions in any order: one zip per distinct version, and current is the last one applied."""
    publish = _steps(platform, BATCH)["publish"]
    backend = tmp_path_factory.mktemp("env")
    store = Store()
    ctx = deploy_context(backend, store)
    transforms = "spark/jobs/payments_clean/transforms.py"
    base = (REPO_ROOT / transforms).read_bytes()
    steps = [bind(publish, BATCH, f"v{n}", REPO_ROOT, store, overrides={transforms: base + f"\n# {n}\n".encode()})
             for n in range(3)]
    digests = {}
    for n in order:
        run(steps[n], ctx)
        digests[n] = _current(backend, "payments_clean")["digest"]
    assert _current(backend, "payments_clean")["fingerprint"] == f"v{order[-1]}"
    assert len(_zips(backend, "payments_clean")) == len(set(order)) == len(set(digests.values()))


def test_a_fenced_out_deploy_does_not_move_current(platform: tuple[Any, Any], tmp_path: Path) -> None:
    """Drill: a deploy whose lease was taken over may store its zip, never point ``current.json`` at it."""
    publish = _steps(platform, BATCH)["publish"]
    store = Store()
    backend = tmp_path / "backend"
    ctx = deploy_context(backend, store)
    run(bind(publish, BATCH, "fp-v1", REPO_ROOT, store), ctx)
    first = _current(backend, "payments_clean")
    transforms = "spark/jobs/payments_clean/transforms.py"
    v2 = bind(publish, BATCH, "fp-v2", REPO_ROOT, store, overrides={transforms: (REPO_ROOT / transforms).read_bytes() + b"\n# v2\n"})
    with pytest.raises(FencingError):
        run(v2, fenced_out(ctx, tmp_path / "state"))
    assert _current(backend, "payments_clean") == first
