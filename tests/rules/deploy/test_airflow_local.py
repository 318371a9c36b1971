"""``airflow_dag`` on the local backend: the ``sync`` step of the platform's DAGs, loaded by Airflow's own DagBag."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphbuild.errors import DeployError, FencingError
from graphbuild.plan.definition import Phase, Reversibility
from graphbuild.testing.handlers import fenced_out
from rules.checks.airflow import airflow_settings
from tests.rules.deploy.steps import platform as shared_platform
from tests.rules.deploy.steps import REPO_ROOT, Store, bind, deploy_context, plan_context, run, steps_of, tree

# One DAG of each folder: they share dags/common helpers in overlapping sets.
DAGS = (
    "//dags/spark_batch:accounts_snapshot_month_end",
    "//dags/dbt:dbt_accounts_daily",
    "//dags/streaming:stream_fraud_signal_supervisor",
    "//dags/quality:dq_accounts_integrity",
    "//dags/ingestion:accounts_changes_ingest",
)


@pytest.fixture(scope="module")
def platform() -> tuple[Any, Any]:
    return shared_platform()


def _labels(head: Any) -> list[str]:
    existing = {str(label) for label in head.graph.targets}
    chosen = [label for label in DAGS if label in existing]
    assert len(chosen) >= 3, "the platform's DAG names moved; pick others"
    return chosen


def _spec(platform: tuple[Any, Any], label: str) -> Any:
    session, head = platform
    (spec,) = steps_of(session, label, plan_context(head))
    return spec


def test_sync_step_carries_the_dag_and_the_helpers_it_imports(platform: tuple[Any, Any]) -> None:
    session, head = platform
    label = _labels(head)[0]
    spec = _spec(platform, label)
    assert (spec.name, spec.phase, spec.reversibility) == ("sync", Phase.ORCHESTRATION, Reversibility.POINTER)
    layout = dict(spec.request["layout"])
    assert set(spec.files) == set(layout)
    assert layout[spec.request["dag_file"]] == spec.request["dag_file"].removeprefix("dags/")
    helpers = [p for p in layout if p.startswith("dags/common/")]
    assert "dags/common/__init__.py" in helpers and len(helpers) >= 3
    assert all(layout[p] == p.removeprefix("dags/") for p in helpers)
    not_python = [str(e.target) for e in head.graph.deps[next(k for k in head.graph.targets if str(k) == label)]
                  if head.graph.targets[e.target].kind != "python_library"]
    assert not_python, "the DAG also depends on jobs and topics, whose files are not synced"
    assert not any(p.startswith(("spark/", "kafka/", "dbt/")) for p in layout)


def test_synced_dags_load_in_airflows_dagbag(platform: tuple[Any, Any], tmp_path: Path) -> None:
    _, head = platform
    store = Store()
    ctx = deploy_context(tmp_path / "env", store)
    labels = _labels(head)
    for label in labels:
        run(bind(_spec(platform, label), label, "v1", REPO_ROOT, store), ctx)
    dags = tmp_path / "env" / "dags"
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(dags)!r})  # as the DAG processor does with its DAGs folder
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder={str(dags)!r}, safe_mode=True)
        print(json.dumps({{"errors": {{k: str(v) for k, v in bag.import_errors.items()}}, "dags": sorted(bag.dag_ids)}}))
    """)
    env = {**airflow_settings(tmp_path / "airflow_home", dags, safe_mode=True), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}, "\n".join(report["errors"].values())
    assert len(report["dags"]) == len(labels)


def test_sync_is_idempotent_and_a_rollback_restores_the_earlier_bytes(platform: tuple[Any, Any], tmp_path: Path) -> None:
    _, head = platform
    label = _labels(head)[0]
    spec = _spec(platform, label)
    store = Store()
    ctx = deploy_context(tmp_path, store)
    v1 = bind(spec, label, "v1", REPO_ROOT, store)
    run(v1, ctx)
    before = tree(tmp_path)
    stamps = {p: (tmp_path / p).stat().st_mtime_ns for p in before}
    assert "(unchanged)" in run(v1, ctx)
    assert tree(tmp_path) == before
    assert {p: (tmp_path / p).stat().st_mtime_ns for p in before} == stamps  # nothing rewritten

    helper = "dags/common/defaults.py"
    changed = (REPO_ROOT / helper).read_bytes() + b"\nSYNC_MARKER = 1\n"
    v2 = bind(spec, label, "v2", REPO_ROOT, store, overrides={helper: changed})
    run(v2, ctx)
    assert (tmp_path / "dags/common/defaults.py").read_bytes() == changed
    run(v1, ctx)  # rollback: the earlier step re-applied from the store
    assert tree(tmp_path) == before


def test_retire_keeps_helpers_other_dags_still_use(platform: tuple[Any, Any], tmp_path: Path) -> None:
    _, head = platform
    first, second = _labels(head)[:2]
    store = Store()
    ctx = deploy_context(tmp_path, store)
    steps = {label: bind(_spec(platform, label), label, "v1", REPO_ROOT, store) for label in (first, second)}
    for step in steps.values():
        run(step, ctx)
    layouts = {label: dict(step.request["layout"]) for label, step in steps.items()}
    dag_file = layouts[first][steps[first].request["dag_file"]]

    retire = bind(_spec(platform, first), first, "v1", REPO_ROOT, store, operation="retire")
    run(retire, ctx)
    run(retire, ctx)  # idempotent
    present = {p.removeprefix("dags/") for p in tree(tmp_path) if p.startswith("dags/")}
    assert dag_file not in present
    assert present == set(layouts[second].values())

    run(bind(_spec(platform, second), second, "v1", REPO_ROOT, store, operation="retire"), ctx)
    assert {p for p in tree(tmp_path) if not p.startswith("airflow/")} == set()


def test_an_unknown_backend_is_refused_at_plan_time(platform: tuple[Any, Any]) -> None:
    session, head = platform
    with pytest.raises(DeployError, match=r"no deploy backend 'composer' \(it has: local, mwaa\)"):
        steps_of(session, _labels(head)[0], plan_context(head, backend="composer"))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 2), st.booleans(), st.booleans()), min_size=1, max_size=8))
def test_the_dags_folder_holds_exactly_what_the_synced_dags_need(platform: tuple[Any, Any], tmp_path_factory: Any,
                                                                   ops: list[tuple[int, bool, bool]]) -> None:
    """Any sequence of syncs (two versions) and retires leaves exactly the live DAGs' files, byte for byte."""
    _, head = platform
    labels = _labels(head)[:3]
    backend = tmp_path_factory.mktemp("env")
    store = Store()
    ctx = deploy_context(backend, store)
    helper = "dags/common/defaults.py"
    variants = {False: {}, True: {helper: (REPO_ROOT / helper).read_bytes() + b"\nV2 = 2\n"}}
    live: dict[str, Any] = {}
    for index, is_retire, is_v2 in ops:
        label = labels[index]
        step = bind(_spec(platform, label), label, f"v{int(is_v2)}", REPO_ROOT, store,
                    operation="retire" if is_retire else "apply", overrides=variants[is_v2])
        run(step, ctx)
        if is_retire:
            live.pop(label, None)
        else:
            live[label] = step
    expected: dict[str, bytes] = {}
    for step in live.values():
        for path, dest in step.request["layout"].items():
            expected[dest] = store.blobs[step.files[path]]
    actual = {p.removeprefix("dags/"): data for p, data in tree(backend).items() if p.startswith("dags/")}
    assert set(actual) == set(expected)
    shared_ok = {dest for dest in expected if actual[dest] == expected[dest]}
    # a helper two live DAGs placed at different versions holds the newer sync's bytes; everything else is exact
    assert set(expected) - shared_ok <= {helper.removeprefix("dags/")}


def test_a_fenced_out_deploy_leaves_the_dags_folder_alone(platform: tuple[Any, Any], tmp_path: Path) -> None:
    """Drill: a deploy whose lease was taken over writes no DAG file, and retires none."""
    _, head = platform
    label = _labels(head)[0]
    spec = _spec(platform, label)
    store = Store()
    backend = tmp_path / "backend"
    ctx = deploy_context(backend, store)
    v1 = bind(spec, label, "v1", REPO_ROOT, store)
    run(v1, ctx)
    before = tree(backend)
    helper = "dags/common/defaults.py"
    v2 = bind(spec, label, "v2", REPO_ROOT, store, overrides={helper: (REPO_ROOT / helper).read_bytes() + b"\nFENCED = 1\n"})
    with pytest.raises(FencingError):
        run(v2, fenced_out(ctx, tmp_path / "state"))
    retire = bind(spec, label, "v1", REPO_ROOT, store, operation="retire")
    with pytest.raises(FencingError):
        run(retire, fenced_out(ctx, tmp_path / "state-retire"))
    assert tree(backend) == before
