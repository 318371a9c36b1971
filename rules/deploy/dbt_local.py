"""dbt on the local backend: SQLMesh-style virtual environments in one DuckDB file per environment.

Each version of a model or seed lives in its own *physical schema*, named from the model and its data
fingerprint (``gb__fct_payments__1a2b3c4d5e6f``), and is never changed once built. The environment sees
views over them in its view schema (``analytics.fct_payments``), so a deploy, a promotion and a
rollback are view swaps. The warehouse is ``<backend_dir>/warehouse.duckdb``; its ``graphbuild`` schema
holds the catalog: ``physical_versions`` (a row per completed version: the completion marker, written
only after dbt built it and its tests passed) and ``environment_views`` (what each view points at).

``apply`` for a step (``request`` as ``plan_step`` writes it):

1. the version is in the catalog: swap the view (idempotent re-apply, rollback: seconds);
2. ``request["reuse"]`` names a previous fingerprint in the catalog (an upstream change that is
   non-breaking for this model): the new physical schema is a view over that version's data, no rebuild;
3. otherwise build: the plan's files are materialized in a temp folder and ``dbt build`` runs in-process
   (``dbtRunner``) on the model and the data tests whose other parents are deployed; refs resolve to the
   upstreams' physical schemas for the fingerprints of the plan (``--vars graphbuild_physical_schemas``,
   honoured by the project's ``generate_schema_name``; the project must do so, see ``_SCHEMA_MACRO``).
   A failed or interrupted build leaves no catalog row, and its schema is dropped before the next try.

``retire`` drops the view and keeps every physical version for rollback.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from graphbuild.errors import DeployError
from graphbuild.plan.definition import DeployContext, DeployPlanContext, Phase, Reversibility, Step, StepSpec
from graphbuild.values import thaw
from rules.deploy.local import BACKENDS, require_local
from rules.deploy.dbt_classify import classify, model_config

__all__ = ["BACKENDS", "apply", "physical_schema", "plan_step", "project_files", "read_from_workspace"]

HANDLER = "rules.deploy.dbt_local:apply"
MONITOR = "rules.deploy.dbt_health"  # its health and drift checks (graphbuild.plan.monitor)
CATALOG = "graphbuild"
VARS_KEY = "graphbuild_physical_schemas"
_ESTIMATE_S = {"seed": 3.0, "view": 3.0, "table": 4.0, "incremental": 6.0, "reuse": 0.5}
# dbtRunner is not re-entrant and dbt-duckdb keeps one database per process: one build at a time
_DBT_LOCK = threading.Lock()
_SCHEMA_MACRO = """{#- graphbuild deploy: physical schemas from --vars (added only when the project has no generate_schema_name) -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set physical = var('graphbuild_physical_schemas', {}) -%}
    {%- if node is not none and node.name in physical -%}{{ physical[node.name] }}
    {%- else -%}{{ default__generate_schema_name(custom_schema_name, node) }}{%- endif -%}
{%- endmacro %}
"""


def physical_schema(name: str, fingerprint: str) -> str:
    """The physical schema of one version of a model or seed.

    >>> physical_schema("fct_payments", "1a2b3c4d5e6f7a8b9c")
    'gb__fct_payments__1a2b3c4d5e6f'
    """
    return f"gb__{name}__{fingerprint[:12]}"


# --------------------------------------------------------------------------------------------------
# Planning


def plan_step(target: Any, ctx: DeployPlanContext) -> StepSpec:
    """The one step of a ``dbt_model`` or ``dbt_seed``: build (or reuse) its version, swap its view."""
    require_local(ctx, "dbt", others=("snowflake",))
    label, head = target.label, ctx.head
    state = head.states[label]
    fingerprint = state.fingerprint.data
    root = str(target.attributes["root"])
    found = classify(label, head, ctx.base, variables=ctx.variables, read=read_from_workspace, memo=ctx.memo)
    materialized = str(model_config(head, label).get("materialized", "view"))
    request: dict[str, Any] = {
        "project": root,
        "package": label.package,
        "node": label.name,
        "resource_type": "seed" if target.kind == "dbt_seed" else "model",
        "materialized": materialized,
        "fingerprint_prefix": fingerprint[:12],
        "physical_schema": physical_schema(label.name, fingerprint),
        "view_schema": str(ctx.variables.get("dbt_view_schema", "analytics")),
        "category": found.category,
    }
    if found.reuse is not None and not found.rebuild and found.category != "unchanged":
        request["reuse"] = found.reuse
    if found.backfill is not None:
        request["backfill"] = {"start": found.backfill[0], "end": found.backfill[1]}
    estimate = _ESTIMATE_S["reuse"] if "reuse" in request else _ESTIMATE_S.get(materialized, 4.0)
    spec = StepSpec.of(
        "dbt_deploy", Phase.TRANSFORMATIONS, HANDLER, request,
        files=project_files(head, root), reversibility=Reversibility.POINTER, estimate_s=estimate, notes=found.notes,
    )
    if ctx.backend == "snowflake":
        from rules.deploy.dbt_snowflake import plan_step as snowflake_step

        return snowflake_step(spec, fingerprint, ctx)
    return spec


def read_from_workspace(revision: Any, path: str, blob: str) -> bytes | None:
    """A file's content at a fingerprinted revision (from the snapshot it was read from), or None.

    Content counts only when its git blob id is the one the fingerprint was computed from, so a
    missing file makes a classification conservative, never wrong.
    """
    from graphbuild.errors import GraphbuildError

    snapshot = getattr(revision, "snapshot", None)
    if snapshot is None or snapshot.blob_id(path) != blob:
        return None
    try:
        return snapshot.read(path)
    except (OSError, GraphbuildError):
        return None


def project_files(revision: Any, root: str) -> tuple[str, ...]:
    """Every file a build of the project needs: project settings, models, YAML, macros, seeds, tests, sample data."""
    found: set[str] = set()
    for state in revision.states.values():
        if state.target.rule == "dbt":
            found.update(p for p in state.target.sources if p.startswith(root + "/") or root == ".")
    return tuple(sorted(found))


# --------------------------------------------------------------------------------------------------
# Applying


def apply(step: Step, ctx: DeployContext) -> str:
    """Deploy handler: make the environment's view of one model point at this step's version."""
    request = thaw(step.request)
    name, view_schema = request["node"], request["view_schema"]
    ctx.backend_dir.mkdir(parents=True, exist_ok=True)
    warehouse = ctx.backend_dir / "warehouse.duckdb"
    if step.operation == "retire":
        with _connect(warehouse) as db:  # connected before the fence: only the switch itself is fenced
            with ctx.fenced(step):  # the view goes: a visible switch
                db.execute(f"drop view if exists {_q(view_schema)}.{_q(name)}")
                db.execute(f"delete from {CATALOG}.environment_views where view_schema = ? and model = ?", [view_schema, name])
        return f"retired view {view_schema}.{name} (physical versions kept for rollback)"
    schema = physical_schema(name, step.fingerprint)
    with _connect(warehouse) as db:
        built = _version(db, name, step.fingerprint)
        if built is None and request.get("reuse") and (previous := _version(db, name, request["reuse"])) is not None:
            _reuse(db, name, step.fingerprint, schema, previous)
            with ctx.fenced(step):  # refused if another deploy took the lease over
                _swap(db, view_schema, name, step.fingerprint, schema, previous["relation"])
            return f"reused {previous['data']} as {schema}; view {view_schema}.{name} swapped"
        if built is not None:
            with ctx.fenced(step):
                _swap(db, view_schema, name, step.fingerprint, built["schema"], built["relation"])
            return f"view {view_schema}.{name} -> {built['schema']} (already built)"
        db.execute(f"drop schema if exists {_q(schema)} cascade")  # what an interrupted build left
    relation, summary = _build(step, ctx, request, warehouse, schema)
    with _connect(warehouse) as db:
        with ctx.fenced(step):
            _swap(db, view_schema, name, step.fingerprint, schema, relation)
    return f"built {schema}.{relation} ({summary}); view {view_schema}.{name} swapped"


@contextmanager
def _connect(warehouse: Path) -> Iterator[Any]:
    import duckdb

    db = duckdb.connect(str(warehouse))
    try:
        db.execute(f"create schema if not exists {CATALOG}")
        db.execute(
            f"create table if not exists {CATALOG}.physical_versions (model varchar, fingerprint varchar, "
            "physical_schema varchar, relation varchar, data_relation varchar, built_at timestamp, "
            "primary key (model, fingerprint))"
        )
        db.execute(
            f"create table if not exists {CATALOG}.environment_views (view_schema varchar, model varchar, "
            "fingerprint varchar, physical_schema varchar, swapped_at timestamp, primary key (view_schema, model))"
        )
        yield db
    finally:
        db.close()


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _version(db: Any, name: str, fingerprint: str) -> dict[str, str] | None:
    row = db.execute(
        f"select physical_schema, relation, data_relation from {CATALOG}.physical_versions where model = ? and fingerprint = ?",
        [name, fingerprint],
    ).fetchone()
    return None if row is None else {"schema": row[0], "relation": row[1], "data": row[2]}


def _record(db: Any, name: str, fingerprint: str, schema: str, relation: str, data: str) -> None:
    db.execute(
        f"insert or replace into {CATALOG}.physical_versions values (?, ?, ?, ?, ?, current_timestamp)",
        [name, fingerprint, schema, relation, data],
    )


def _reuse(db: Any, name: str, fingerprint: str, schema: str, previous: Mapping[str, str]) -> None:
    """The new version is a view over the data of the previous one: one transaction, nothing rebuilt."""
    data = previous["data"]
    db.execute("begin transaction")
    try:
        db.execute(f"drop schema if exists {_q(schema)} cascade")
        db.execute(f"create schema {_q(schema)}")
        schema_of, _, table = data.partition(".")
        db.execute(f"create view {_q(schema)}.{_q(previous['relation'])} as select * from {_q(schema_of)}.{_q(table)}")
        _record(db, name, fingerprint, schema, previous["relation"], data)
        db.execute("commit")
    except Exception:
        db.execute("rollback")
        raise


def _swap(db: Any, view_schema: str, name: str, fingerprint: str, schema: str, relation: str) -> None:
    db.execute("begin transaction")
    try:
        db.execute(f"create schema if not exists {_q(view_schema)}")
        db.execute(f"create or replace view {_q(view_schema)}.{_q(name)} as select * from {_q(schema)}.{_q(relation)}")
        db.execute(
            f"insert or replace into {CATALOG}.environment_views values (?, ?, ?, ?, current_timestamp)",
            [view_schema, name, fingerprint, schema],
        )
        db.execute("commit")
    except Exception:
        db.execute("rollback")
        raise


# --------------------------------------------------------------------------------------------------
# Building with dbt

_Profile = Callable[[Path, Path], str]  # (project folder, profiles folder) -> the target it wrote


class _Project:
    """The plan's project materialized once, with its deploy profile and parsed manifest.

    Every step of one plan has the same files and the same physical-schema mapping, so the deploying
    process parses the project once per plan (dbt's parse is most of a step's time) and keeps that copy
    until a step of another plan comes.
    """

    _current: _Project | None = None

    def __init__(self, key: str, step: Step, ctx: DeployContext, request: Mapping[str, Any], profile: _Profile) -> None:
        self.key = key
        self._tmp = tempfile.TemporaryDirectory(prefix="gb-dbt-deploy-")
        self.folder = Path(self._tmp.name)
        ctx.materialize(step.files, self.folder / "workspace")
        self.project = self.folder / "workspace" / request["project"]
        if "generate_schema_name" not in _macro_text(self.project):
            (self.project / "macros").mkdir(exist_ok=True)
            (self.project / "macros" / "graphbuild_generate_schema_name.sql").write_text(_SCHEMA_MACRO, encoding="utf-8")
        self.profiles = self.folder / "profiles"
        self.target = profile(self.project, self.profiles)
        self.manifest: Any = None

    @classmethod
    def of(cls, step: Step, ctx: DeployContext, request: Mapping[str, Any], where: str, mapping: Mapping[str, str],
           profile: _Profile) -> _Project:
        """``where`` names the warehouse (never a secret); ``profile(project, dest)`` writes its profiles.yml, returns the target."""
        key = json.dumps([thaw(step.files), request["project"], request["view_schema"], where, mapping], sort_keys=True)
        if cls._current is None or cls._current.key != key:
            if cls._current is not None:
                cls._current._tmp.cleanup()
            cls._current = None
            cls._current = cls(key, step, ctx, request, profile)
        return cls._current

    def args(self, mapping: Mapping[str, str], logs: Path) -> list[str]:
        return [
            "--project-dir", str(self.project), "--profiles-dir", str(self.profiles), "--target", self.target,
            "--target-path", str(self.folder / "target"), "--log-path", str(logs),
            "--vars", json.dumps({VARS_KEY: dict(mapping)}, sort_keys=True), "--no-use-colors", "--quiet",
            "--no-send-anonymous-usage-stats", "--no-version-check",
        ]  # fmt: skip


def _build(step: Step, ctx: DeployContext, request: Mapping[str, Any], warehouse: Path, schema: str) -> tuple[str, str]:
    name = request["node"]
    mapping = _physical_mapping(ctx.fingerprints, request["package"], name, step.fingerprint)
    with _connect(warehouse) as db:
        built = set(db.execute(f"select model, fingerprint from {CATALOG}.physical_versions").fetchall())
    deployed = {n for n in mapping if (n, _fingerprint_of(ctx.fingerprints, request["package"], n)) in built}
    with _DBT_LOCK, tempfile.TemporaryDirectory(prefix="gb-dbt-logs-") as logs:
        try:
            project = _Project.of(step, ctx, request, str(warehouse), mapping,
                                  lambda folder, dest: _deploy_profile(folder, dest, warehouse, request["view_schema"])[0])
            relation, summary = _run_dbt(project, project.args(mapping, Path(logs)), request, schema, deployed, warehouse)
            with _connect(warehouse) as db:
                _record(db, name, step.fingerprint, schema, relation, f"{schema}.{relation}")
        except BaseException:
            _keep_log(Path(logs) / "dbt.log", ctx.backend_dir, schema)
            with _connect(warehouse) as db:
                db.execute(f"drop schema if exists {_q(schema)} cascade")
            raise
    return relation, summary


def _macro_text(project: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in (project / "macros").rglob("*.sql"))


def _deploy_profile(project: Path, dest: Path, warehouse: Path, view_schema: str) -> tuple[str, Path]:
    """A profiles.yml whose DuckDB output writes the environment's warehouse and reads files from the project."""
    import yaml

    settings = yaml.safe_load((project / "dbt_project.yml").read_text(encoding="utf-8")) or {}
    profiles = yaml.safe_load((project / "profiles.yml").read_text(encoding="utf-8")) if (project / "profiles.yml").is_file() else {}
    profile = (profiles or {}).get(settings.get("profile")) or {}
    outputs = profile.get("outputs") or {}
    names = [profile.get("target"), *sorted(outputs)]
    target = next((n for n in names if isinstance(outputs.get(n), Mapping) and outputs[n].get("type") == "duckdb"), None)
    if target is None:
        raise DeployError(
            f"profile {settings.get('profile')!r} has no DuckDB output for the local backend",
            file=f"{project.name}/profiles.yml", fix="add a duckdb output (type: duckdb) to the project's profile",
        )
    output = dict(outputs[target])
    output.update(path=str(warehouse), schema=view_schema)
    output["settings"] = {**(output.get("settings") or {}), "file_search_path": str(project)}
    dest.mkdir(parents=True, exist_ok=True)
    content = {settings.get("profile"): {"target": target, "outputs": {target: output}}}
    (dest / "profiles.yml").write_text(yaml.safe_dump(content, sort_keys=True), encoding="utf-8")
    return target, dest


def _physical_mapping(fingerprints: Mapping[str, str], package: str, name: str, fingerprint: str,
                      schema_of: Callable[[str, str], str] = physical_schema) -> dict[str, str]:
    """node name -> physical schema (``schema_of(name, fingerprint)``), for every target of the project's package in the plan."""
    mapping = {}
    for label, fp in fingerprints.items():
        pkg, _, node = str(label).removeprefix("//").partition(":")
        if pkg == package and node and "." not in node:
            mapping[node] = schema_of(node, str(fp))
    mapping[name] = schema_of(name, fingerprint)
    return dict(sorted(mapping.items()))


def _fingerprint_of(fingerprints: Mapping[str, str], package: str, name: str) -> str | None:
    value = fingerprints.get(f"//{package}:{name}")
    return None if value is None else str(value)


def _run_dbt(
    project: _Project, args: list[str], request: Mapping[str, Any], schema: str, deployed: set[str], warehouse: Path
) -> tuple[str, str]:
    try:
        node, summary = _build_node(project, args, request, schema, deployed)
        if node.resource_type == "model" and node.config.materialized == "view" and _reads_files(project.manifest, node):
            _release_duckdb()
            _freeze(warehouse, project.project, schema, node.alias)
        return node.alias, summary
    finally:
        _release_duckdb()


def _build_node(project: _Project, args: list[str], request: Mapping[str, Any], schema: str, deployed: set[str],
                build_args: tuple[str, ...] = ()) -> tuple[Any, str]:
    """``dbt build`` of the step's node into ``schema`` with the data tests whose other parents are ``deployed``:
    the manifest node and a summary. Any adapter: the profile is the project's; ``build_args`` go to build only."""
    from dbt.cli.main import dbtRunner

    if project.manifest is None:
        parsed = dbtRunner().invoke(["parse", *args])
        if not parsed.success or parsed.result is None:
            raise DeployError(f"dbt parse failed: {_first_line(parsed.exception) or 'see the dbt log'}",
                              fix="run `graphbuild test` on the dbt project at this commit")
        project.manifest = parsed.result
    manifest = project.manifest
    node = next((n for n in manifest.nodes.values() if n.resource_type == request["resource_type"]
                 and n.name == request["node"] and n.package_name == manifest.metadata.project_name), None)
    if node is None:
        raise DeployError(f"dbt knows no {request['resource_type']} {request['node']} in this plan's files")
    if node.schema != schema:
        raise DeployError(
            f"the project's generate_schema_name put {request['node']} in {node.schema!r}, not its physical schema {schema!r}",
            fix=f"return var('{VARS_KEY}')[node.name] first when it is set (see rules/deploy/dbt_local.py)",
        )
    selectors = ["fqn:" + ".".join(node.fqn)]
    for test in manifest.nodes.values():
        parents = [p for p in test.depends_on.nodes if not p.startswith("source.")] if test.resource_type == "test" else []
        if node.unique_id in parents and all(p == node.unique_id or manifest.nodes[p].name in deployed for p in parents):
            selectors.append("fqn:" + ".".join(test.fqn))
    built = dbtRunner(manifest=manifest).invoke(["build", *args, *build_args, "--indirect-selection", "empty", "--select", *selectors])
    failures = [r for r in getattr(built.result, "results", []) or [] if str(r.status) in ("error", "fail", "runtime error")]
    if failures or not built.success:
        detail = "; ".join(f"{r.node.name}: {_first_line(r.message)}" for r in failures[:5]) or _first_line(built.exception)
        raise DeployError(f"dbt build of {request['node']} failed: {detail}",
                          fix="fix the model or its data, then deploy again: the failed version was dropped")
    tests = sum(1 for r in built.result.results if r.node.resource_type in ("test", "unit_test"))
    return node, f"{tests} tests passed"


def _reads_files(manifest: Any, node: Any) -> bool:
    """A view over files (a DuckDB source with ``external_location``) would dangle once the temp folder is gone."""
    sources = [manifest.sources[p] for p in node.depends_on.nodes if p in manifest.sources]
    return any("(" in (s.relation_name or "") for s in sources)


def _freeze(warehouse: Path, project: Path, schema: str, relation: str) -> None:
    """Store a view over the plan's files as a table: a physical version must outlive the deploy's temp folder."""
    import duckdb

    db = duckdb.connect(str(warehouse))
    try:
        db.execute("set file_search_path = ?", [str(project)])
        db.execute("begin transaction")
        db.execute(f"create table {_q(schema)}.{_q('__gb_frozen')} as select * from {_q(schema)}.{_q(relation)}")
        db.execute(f"drop view {_q(schema)}.{_q(relation)}")
        db.execute(f"alter table {_q(schema)}.{_q('__gb_frozen')} rename to {_q(relation)}")
        db.execute("commit")
    finally:
        db.close()


def _release_duckdb() -> None:
    """Close dbt-duckdb's process-wide database so the warehouse file is free for the next connection."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    if DuckDBConnectionManager._ENV is not None:
        try:
            DuckDBConnectionManager._ENV.close()
        finally:
            DuckDBConnectionManager._ENV = None
            DuckDBConnectionManager.close_all_connections()


def _keep_log(log: Path, backend_dir: Path, schema: str) -> None:
    if log.is_file():
        dest = backend_dir / "dbt-logs" / f"{schema}.log"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, dest)


def _first_line(value: Any) -> str:
    text = str(value or "").strip()
    return text.splitlines()[0] if text else ""
