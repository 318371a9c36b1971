"""The local dbt backend with real dbt on DuckDB: build, re-apply, new version, rollback, retire, failure."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pytest

from graphbuild.errors import DeployError, FencingError
from graphbuild.plan.definition import DeployContext, DeployPlanContext, Step, StepSpec
from graphbuild.testing import GitWorkspace
from graphbuild.testing.handlers import fenced_out
from graphbuild.values import FrozenDict, freeze
from rules.dbt import rule
from rules.deploy.dbt_local import apply, physical_schema

MINI = Path(__file__).resolve().parents[2] / "fixtures" / "mini" / "dbt"
STG = "dbt/models/staging/stg_payments.sql"
FCT = "dbt/models/marts/fct_payments.sql"
RPT = "dbt/models/marts/rpt_daily_volume.sql"


def dbt_workspace(root: Path) -> GitWorkspace:
    shutil.copytree(MINI, root / "dbt")
    workspace = GitWorkspace(root)
    workspace.commit("base")
    return workspace


def plan(workspace: GitWorkspace, base: str | None, variables: Mapping[str, Any] | None = None,
         backend: str = "local", settings: Mapping[str, Any] | None = None) -> tuple[dict[str, tuple[StepSpec, str]], Any]:
    """label -> (the step spec, the fingerprint) for every dbt target with a step, in dependency order."""
    with workspace.session(use_cache=False) as session:
        head = session.fingerprinted()
        ctx = DeployPlanContext("dev", backend, freeze(dict(variables or {"backfill_end": "2026-11-26"})), head,
                                session.fingerprinted(base) if base else None, settings=freeze(dict(settings or {})))
        found = {}
        for label in head.graph.order:
            target = head.graph.targets[label]
            if target.rule == "dbt":
                for spec in rule.deploy_steps(target, ctx):
                    found[str(label)] = (spec, head.states[label].fingerprint.data)
        return found, head


def to_step(label: str, spec: StepSpec, fingerprint: str, root: Path, blobs: dict[str, bytes], operation: str = "apply") -> Step:
    files = {}
    for path in spec.files:
        data = (root / path).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        files[path] = digest
    return Step(
        key=f"{label}@{fingerprint}", label=label, name=spec.name, phase=spec.phase, handler=spec.handler,
        request=spec.request, files=freeze(files), reversibility=spec.reversibility, estimate_s=spec.estimate_s,
        fingerprint=fingerprint, operation=operation, notes=spec.notes,  # type: ignore[arg-type]
    )


def deploy_context(root: Path, backend_dir: Path, fingerprints: Mapping[str, str], blobs: Mapping[str, bytes]) -> DeployContext:
    def secret(name: str) -> str:
        raise AssertionError(f"no secret expected, asked for {name}")

    return DeployContext("dev", root, backend_dir, FrozenDict(), freeze(dict(fingerprints)), blobs.__getitem__, secret)


def _query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as db:
        return db.execute(sql).fetchall()


def _schemas(warehouse: Path) -> set[str]:
    return {r[0] for r in _query(warehouse, "select schema_name from information_schema.schemata") if r[0].startswith("gb__")}


def _deploy(specs, root, backend, blobs) -> dict[str, str]:
    fingerprints = {label: fp for label, (_, fp) in specs.items()}
    ctx = deploy_context(root, backend, fingerprints, blobs)
    return {label: apply(to_step(label, spec, fp, root, blobs), ctx) for label, (spec, fp) in specs.items()}


def test_deploy_reapply_new_version_rollback_and_retire(tmp_path: Path) -> None:
    workspace = dbt_workspace(tmp_path / "ws")
    backend, blobs = tmp_path / "env", {}
    warehouse = backend / "warehouse.duckdb"

    v1, _ = plan(workspace, None)
    assert set(v1) == {f"//dbt:{n}" for n in ("currencies", "stg_merchants", "stg_payments", "dim_merchants", "fct_payments", "rpt_daily_volume")}
    first = _deploy(v1, workspace.root, backend, blobs)
    assert all(s.startswith("built ") for s in first.values()), first
    assert "tests passed" in first["//dbt:fct_payments"]
    volume = _query(warehouse, "select day, currency, volume from analytics.rpt_daily_volume order by 1, 2")
    assert volume and all(v > 0 for *_, v in volume)
    # a view over the sample CSVs was stored as a table: readable without the deploy's temp folder
    assert _query(warehouse, "select count(*) from analytics.stg_payments")[0][0] > 0
    built = _schemas(warehouse)
    assert physical_schema("fct_payments", v1["//dbt:fct_payments"][1]) in built

    again = _deploy({"//dbt:fct_payments": v1["//dbt:fct_payments"]}, workspace.root, backend, blobs)
    assert "already built" in again["//dbt:fct_payments"] and _schemas(warehouse) == built

    # a non-breaking change: stg_payments is rebuilt, its readers reuse their physical versions
    workspace.edit(STG, "    created_at\n", "    created_at,\n    amount_cents\n")
    v1_commit = workspace.commit("add amount_cents")
    v2, _ = plan(workspace, "HEAD~1")
    assert v2["//dbt:fct_payments"][0].request["reuse"] == v1["//dbt:fct_payments"][1]
    changed = {k: v for k, v in v2.items() if v[1] != v1[k][1]}
    second = _deploy(changed, workspace.root, backend, blobs)
    assert second["//dbt:stg_payments"].startswith("built ")
    assert second["//dbt:fct_payments"].startswith("reused ") and second["//dbt:rpt_daily_volume"].startswith("reused ")
    assert ("amount_cents",) in _query(warehouse, "select column_name from information_schema.columns "
                                                  "where table_schema = 'analytics' and table_name = 'stg_payments'")
    assert _query(warehouse, "select count(*) from analytics.fct_payments")[0][0] > 0
    assert v1_commit

    # rollback: re-applying the earlier steps is a pure view swap
    started = time.perf_counter()
    back = _deploy({k: v1[k] for k in changed}, workspace.root, backend, blobs)
    assert time.perf_counter() - started < 5 and all("already built" in s for s in back.values()), back
    columns = _query(warehouse, "select column_name from information_schema.columns "
                                "where table_schema = 'analytics' and table_name = 'stg_payments'")
    assert ("amount_cents",) not in columns
    views = dict(_query(warehouse, "select model, fingerprint from graphbuild.environment_views"))
    assert views["fct_payments"] == v1["//dbt:fct_payments"][1]

    # retire drops the view, keeps the physical versions
    spec, fp = v1["//dbt:rpt_daily_volume"]
    ctx = deploy_context(workspace.root, backend, {}, blobs)
    assert "retired" in apply(to_step("//dbt:rpt_daily_volume", spec, fp, workspace.root, blobs, "retire"), ctx)
    assert not _query(warehouse, "select * from information_schema.tables where table_schema = 'analytics' and table_name = 'rpt_daily_volume'")
    assert physical_schema("rpt_daily_volume", fp) in _schemas(warehouse)


def test_a_failing_build_leaves_no_version_and_the_view_unchanged(tmp_path: Path) -> None:
    workspace = dbt_workspace(tmp_path / "ws")
    backend, blobs = tmp_path / "env", {}
    warehouse = backend / "warehouse.duckdb"
    v1, _ = plan(workspace, None)
    _deploy(v1, workspace.root, backend, blobs)
    # a column the enforced contract does not declare: the build fails
    workspace.edit(FCT, "    p.created_at\n", "    p.created_at,\n    1 as one\n")
    workspace.commit("break the contract")
    v2, _ = plan(workspace, "HEAD~1")
    spec, fp = v2["//dbt:fct_payments"]
    with pytest.raises(DeployError, match="dbt build of fct_payments failed"):
        _deploy({"//dbt:fct_payments": (spec, fp)}, workspace.root, backend, blobs)
    assert physical_schema("fct_payments", fp) not in _schemas(warehouse)
    assert not _query(warehouse, f"select * from graphbuild.physical_versions where fingerprint = '{fp}'")
    assert dict(_query(warehouse, "select model, fingerprint from graphbuild.environment_views"))["fct_payments"] == v1["//dbt:fct_payments"][1]
    assert (backend / "dbt-logs" / f"{physical_schema('fct_payments', fp)}.log").is_file()


def test_a_fenced_out_deploy_cannot_swap_or_drop_a_view(tmp_path: Path) -> None:
    """Drill: a deploy whose lease was taken over neither re-points nor drops an environment view."""
    workspace = dbt_workspace(tmp_path / "ws")
    backend, blobs = tmp_path / "env", {}
    warehouse = backend / "warehouse.duckdb"
    v1, _ = plan(workspace, None)
    _deploy(v1, workspace.root, backend, blobs)
    views = dict(_query(warehouse, "select model, fingerprint from graphbuild.environment_views"))
    spec, fp = v1["//dbt:fct_payments"]
    fingerprints = {label: f for label, (_, f) in v1.items()}
    stale = fenced_out(deploy_context(workspace.root, backend, fingerprints, blobs), tmp_path / "state")
    with pytest.raises(FencingError):
        apply(to_step("//dbt:fct_payments", spec, fp, workspace.root, blobs, operation="retire"), stale)
    with pytest.raises(FencingError):  # the version is built: only the swap is left, and it is refused
        apply(to_step("//dbt:fct_payments", spec, fp, workspace.root, blobs), stale)
    assert dict(_query(warehouse, "select model, fingerprint from graphbuild.environment_views")) == views
    assert _query(warehouse, "select count(*) from analytics.fct_payments")[0][0] > 0
