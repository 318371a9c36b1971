"""Health and drift of dbt models on the local backend (``MONITOR`` of ``rules.deploy.dbt_local``).

Health, per deployed model, on the environment's DuckDB warehouse, against the previous version's
physical schema (the baseline; a model new in this version is measured, not compared):

- ``row_count``: fails when the rows fell by more than ``[health] max_row_count_drop`` (a fraction);
- ``null_rate``: fails when any column's share of nulls rose by more than ``max_null_rate_increase``;
- ``freshness``: hours since the newest value of the model's date and timestamp columns, failing above
  ``max_staleness_hours`` (skipped when that is unset or the model has no such column);
- ``dbt_test``: real ``dbt test`` on the deployed models (the project as the plan stored it, refs
  resolved to the deployed physical schemas), once for all of them.

Drift: the view ``<view_schema>.<model>`` must read the physical version the plan deployed, and the
catalog (``graphbuild.environment_views``) must say so too.
"""

from __future__ import annotations

import datetime
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from graphbuild.plan.definition import Step
from graphbuild.plan.monitor import Check, Drift, MonitorContext
from graphbuild.values import thaw

__all__ = ["drift", "health", "profile"]

_CATALOG = "graphbuild"
_TIME_TYPES = ("DATE", "TIMESTAMP")


def health(steps: Sequence[Step], ctx: MonitorContext) -> Iterator[Check]:
    """Row count, null rate and freshness of each deployed model against its previous version, then dbt test."""
    warehouse = ctx.backend_dir / "warehouse.duckdb"
    models = [s for s in steps if s.operation == "apply" and "view_schema" in s.request]
    if not warehouse.is_file():
        yield from (Check.of(s.label, "warehouse", "failed", f"no warehouse at {warehouse.name}") for s in models)
        return
    with _read(warehouse) as db:
        for step in models:
            yield from _model_checks(db, step, ctx)
    yield from dbt_tests(models, ctx, warehouse)


def _model_checks(db: Any, step: Step, ctx: MonitorContext) -> Iterator[Check]:
    name, view_schema = step.request["node"], step.request["view_schema"]
    now = profile(db, f"{_q(view_schema)}.{_q(name)}")
    if now is None:
        yield Check.of(step.label, "row_count", "failed", f"view {view_schema}.{name} is missing")
        return
    before_fp = ctx.previous_fingerprint(step.label)
    before = None
    if before_fp is not None and before_fp != step.fingerprint:
        relation = _relation(db, name, before_fp)
        before = profile(db, relation) if relation else None
    yield _row_count(step.label, now, before, float(ctx.thresholds.get("max_row_count_drop", 0.2)))
    yield _null_rate(step.label, now, before, float(ctx.thresholds.get("max_null_rate_increase", 0.05)))
    yield _freshness(step.label, now, ctx.thresholds.get("max_staleness_hours"))


def profile(db: Any, relation: str) -> dict[str, Any] | None:
    """Rows, each column's null rate and the newest date/timestamp of ``relation``, or None if it is not there."""
    try:
        columns = db.execute(f"describe select * from {relation}").fetchall()
    except Exception:  # duckdb.CatalogException and friends: the relation is gone
        return None
    names = [c[0] for c in columns]
    nulls = ", ".join(f"count(*) - count({_q(n)})" for n in names)
    times = [n for n, kind, *_ in columns if str(kind).upper().startswith(_TIME_TYPES)]
    newest = ", ".join(f"max({_q(n)})::timestamp" for n in times)
    row = db.execute(f"select count(*){', ' + nulls if nulls else ''}{', ' + newest if newest else ''} from {relation}").fetchone()
    rows = int(row[0])
    rates = {n: (int(row[1 + i]) / rows if rows else 0.0) for i, n in enumerate(names)}
    stamps = [v for v in row[1 + len(names):] if v is not None]
    return {"rows": rows, "null_rates": rates, "newest": max(stamps) if stamps else None, "has_time": bool(times)}


def _row_count(label: str, now: Mapping[str, Any], before: Mapping[str, Any] | None, limit: float) -> Check:
    rows = now["rows"]
    if before is None:
        return Check.of(label, "row_count", "passed", f"{rows} rows (no previous version to compare)", row_count=rows)
    was = before["rows"]
    drop = (was - rows) / was if was else 0.0
    status = "failed" if drop > limit else "passed"
    return Check.of(label, "row_count", status, f"{rows} rows, was {was} ({-drop:+.1%}; limit -{limit:.0%})",
                    row_count=rows, previous_row_count=was, row_count_drop=max(drop, 0.0))


def _null_rate(label: str, now: Mapping[str, Any], before: Mapping[str, Any] | None, limit: float) -> Check:
    rates = now["null_rates"]
    worst = max(rates.values(), default=0.0)
    if before is None:
        return Check.of(label, "null_rate", "passed", f"highest column null rate {worst:.1%} (no previous version)", null_rate=worst)
    rises = {c: rates[c] - before["null_rates"][c] for c in rates if c in before["null_rates"]}
    column, rise = max(sorted(rises.items()), key=lambda item: item[1], default=("", 0.0))
    status = "failed" if rise > limit else "passed"
    detail = f"{column}: null rate {rates[column]:.1%}, was {before['null_rates'][column]:.1%} (limit +{limit:.0%})" if column else "no column to compare"
    return Check.of(label, "null_rate", status, detail, null_rate=worst, null_rate_increase=max(rise, 0.0))


def _freshness(label: str, now: Mapping[str, Any], limit: Any) -> Check:
    if not now["has_time"]:
        return Check.of(label, "freshness", "skipped", "no date or timestamp column")
    if now["newest"] is None:
        return Check.of(label, "freshness", "failed" if limit is not None else "skipped", "no rows with a timestamp")
    newest = now["newest"]
    age = (datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - newest).total_seconds() / 3600
    if limit is None:
        return Check.of(label, "freshness", "skipped", f"newest {newest.isoformat()} ({age:.1f} h); max_staleness_hours unset",
                        staleness_hours=age)
    status = "failed" if age > float(limit) else "passed"
    return Check.of(label, "freshness", status, f"newest {newest.isoformat()}: {age:.1f} h old (limit {float(limit):g} h)",
                    staleness_hours=age)


def dbt_tests(models: Sequence[Step], ctx: MonitorContext, warehouse: Path) -> Iterator[Check]:
    """``dbt test`` of the deployed models, on the deployed physical versions, with real dbt; one check per model."""
    from dbt.cli.main import dbtRunner

    from rules.deploy import dbt_local

    built = [s for s in models if s.request.get("resource_type") == "model"]
    if not built:
        return
    first = built[0]
    request = thaw(first.request)
    mapping = dbt_local._physical_mapping(ctx.plan.fingerprints, request["package"], request["node"], first.fingerprint)
    with dbt_local._DBT_LOCK, tempfile.TemporaryDirectory(prefix="gb-dbt-health-") as logs:
        project = _project(first, ctx, request, warehouse, mapping)
        try:
            selectors = [f"{s.request['node']}" for s in built]
            done = dbtRunner(manifest=project.manifest).invoke(["test", *project.args(mapping, Path(logs)), "--select", *selectors])
        finally:
            dbt_local._release_duckdb()
    results = list(getattr(done.result, "results", None) or [])
    for step in built:
        mine = [r for r in results if _tests_model(r.node, step.request["node"])]
        bad = [r for r in mine if str(r.status) in ("fail", "error", "runtime error")]
        if not done.success and not results:
            yield Check.of(step.label, "dbt_test", "failed", f"dbt test did not run: {dbt_local._first_line(done.exception)}")
        elif not mine:
            yield Check.of(step.label, "dbt_test", "skipped", "the model has no data tests")
        else:
            detail = "; ".join(f"{r.node.name}: {dbt_local._first_line(r.message)}" for r in bad[:3]) or f"{len(mine)} tests passed"
            yield Check.of(step.label, "dbt_test", "failed" if bad else "passed", detail, tests=len(mine), test_failures=len(bad))


def _project(step: Step, ctx: MonitorContext, request: Mapping[str, Any], warehouse: Path, mapping: Mapping[str, str]) -> Any:
    """dbt_local's materialized project (parsed once per plan) for the deployed plan's files."""
    from dbt.cli.main import dbtRunner

    from graphbuild.errors import DeployError
    from graphbuild.plan.definition import DeployContext
    from rules.deploy import dbt_local

    def no_secret(name: str) -> str:
        raise DeployError(f"health checks resolve no secret ({name})")

    deploy_ctx = DeployContext(ctx.env, ctx.root, ctx.backend_dir, ctx.variables, ctx.plan.fingerprints, ctx.read_blob, no_secret)
    project = dbt_local._Project.of(step, deploy_ctx, request, str(warehouse), mapping,
                                    lambda folder, dest: dbt_local._deploy_profile(folder, dest, warehouse, request["view_schema"])[0])
    if project.manifest is None:
        with tempfile.TemporaryDirectory(prefix="gb-dbt-health-parse-") as logs:
            parsed = dbtRunner().invoke(["parse", *project.args(mapping, Path(logs))])
        if not parsed.success or parsed.result is None:
            raise DeployError(f"dbt parse failed: {dbt_local._first_line(parsed.exception)}")
        project.manifest = parsed.result
    return project


def _tests_model(node: Any, model: str) -> bool:
    attached = getattr(node, "attached_node", None) or ""
    depends = getattr(getattr(node, "depends_on", None), "nodes", None) or []
    return attached.rpartition(".")[2] == model or any(d.rpartition(".")[2] == model and d.startswith("model.") for d in depends)


def drift(steps: Sequence[Step], ctx: MonitorContext) -> Iterable[Drift]:
    """Each deployed model's view must read the physical version of the plan, and the catalog must agree."""
    warehouse = ctx.backend_dir / "warehouse.duckdb"
    models = [s for s in steps if s.operation == "apply" and "view_schema" in s.request]
    if not warehouse.is_file():
        return [Drift(s.label, "warehouse", "warehouse.duckdb", "missing") for s in models]
    found = []
    with _read(warehouse) as db:
        for step in models:
            found.extend(_model_drift(db, step))
    return found


def _model_drift(db: Any, step: Step) -> list[Drift]:
    name, view_schema = step.request["node"], step.request["view_schema"]
    expected = _relation(db, name, step.fingerprint, quoted=False)
    row = db.execute("select sql from duckdb_views() where schema_name = ? and view_name = ?", [view_schema, name]).fetchone()
    reads = _reads(row[0]) if row else "missing"
    found = []
    if expected is None:
        found.append(Drift(step.label, "physical version", step.fingerprint[:12], "not in the catalog"))
    elif reads != expected.lower():
        found.append(Drift(step.label, "view", f"{view_schema}.{name} -> {expected}", f"{view_schema}.{name} -> {reads}"))
    catalog = db.execute(f"select fingerprint from {_CATALOG}.environment_views where view_schema = ? and model = ?",
                         [view_schema, name]).fetchone()
    if catalog is None or catalog[0] != step.fingerprint:
        found.append(Drift(step.label, "catalog", step.fingerprint[:12], catalog[0][:12] if catalog else "missing"))
    return found


def _reads(sql: str) -> str:
    """What a graphbuild view reads (``select * from schema.relation``), lower-cased; else the whole definition."""
    match = re.fullmatch(r"\s*create\s+view\s+\S+\s+as\s+select\s+\*\s+from\s+(\S+?)\s*;?\s*", sql, re.IGNORECASE)
    return match[1].replace('"', "").lower() if match else " ".join(sql.split())


def _relation(db: Any, name: str, fingerprint: str, *, quoted: bool = True) -> str | None:
    row = db.execute(f"select physical_schema, relation from {_CATALOG}.physical_versions where model = ? and fingerprint = ?",
                     [name, fingerprint]).fetchone()
    if row is None:
        return None
    return f"{_q(row[0])}.{_q(row[1])}" if quoted else f"{row[0]}.{row[1]}"


@contextmanager
def _read(warehouse: Path) -> Iterator[Any]:
    import duckdb

    db = duckdb.connect(str(warehouse), read_only=True)
    try:
        yield db
    finally:
        db.close()


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
