"""The dbt checks: real dbt on the embedded DuckDB target, one ``dbt build`` per project and call.

The engine sends every selected dbt action of one project in one call (batch ``dbt:<project>``);
the handler runs dbt in-process through its programmatic API (``dbtRunner``: the ``dbt`` worker
imports dbt once and serves many calls)::

    check_dbt([{"project": "dbt", "kind": "dbt_model", "node": "fct_payments",
                "file": "models/marts/payments/fct_payments.sql", "target": "dev"}], ctx)

1. ``dbt parse``. A Jinja or YAML error fails the target whose file dbt names, at dbt's line; the
   other targets of the call fail too, naming that file: nothing can be checked without a manifest.
   dbt validates the semantic layer while it parses: a semantic model, metric or saved query answers
   for that validation (it fails with dbt's messages that name it) and for being in the manifest.
2. One ``dbt build`` of an explicit selection with ``--indirect-selection empty``:

   - every node a requested target *answers for*, built and tested on the real sample data;
   - its *prerequisites*, the unselected ancestors of those nodes and of the parents of their data
     tests (``dim_merchants`` for the relationships test of ``fct_payments``), as models and seeds
     only: none of their own data tests or unit tests run. dbt orders the lot.

   What a target answers for, and so fails on: a model or seed, its compilation, contract and
   materialisation, the generic data tests attached to it, the singular tests that ref it and its
   unit tests; a source table, its data tests and (on DuckDB, where a source is a file such as the
   sample CSVs) that it reads with every column its YAML declares; a macro file, every model and
   data test that uses one of its macros (directly or through another macro), so a generic test
   macro is checked by the tests that use it; the project, that it parses. A target whose nodes dbt
   skipped because something upstream failed is ``skipped`` with that reason when another target of
   the call reports the failure, ``failed`` when the culprit is an unselected prerequisite. How
   failures are located and worded: ``rules.checks.dbt_report``.

Prerequisites are built from real data, not with dbt's ``--empty``: an empty parent gives the
selected model zero rows, and every data test on zero rows passes vacuously (``not_null``,
``relationships``, the reconciliation tests). On DuckDB the staging and intermediate layers are
views over the sample CSVs, so building them for real costs no more than building them empty; the
time ``--empty`` would save is that of their data tests and unit tests, which are not run anyway.
Selecting one mart therefore needs no full project build.

``[rules.dbt] vars`` reach every dbt call of a request as ``--vars`` (the request's ``vars``).

Isolation: dbt's target path, log path and the DuckDB file (``GRAPHBUILD_DUCKDB_PATH``, read by the
project's ``profiles.yml``) live in a fresh folder under ``ctx.scratch``; nothing is written into
the workspace, so parallel runs cannot collide. The sample-data locations of the sources are
relative to the project folder, so the working directory is the project folder during the call and
is restored after it (a worker serves one call at a time).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphbuild.run.action import HandlerContext
from rules.checks.dbt_report import (
    BUILDABLE,
    SEMANTIC_COLLECTIONS,
    Report,
    first_line,
    outcome,
    parse_failures,
    semantic_failures,
    upstream,
)

__all__ = ["check_dbt"]

def check_dbt(requests: list[dict[str, Any]], ctx: HandlerContext) -> list[dict[str, Any]]:
    """One outcome per request; the requests of each project (and profile target) share one dbt run."""
    outcomes: list[dict[str, Any] | None] = [None] * len(requests)
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for index, request in enumerate(requests):
        variables = json.dumps(request["vars"], sort_keys=True) if request.get("vars") else ""
        key = (request["project"], request.get("target", "dev"), request.get("profiles_dir", "."), request.get("threads"), variables)
        groups[key].append(index)
    for (project, target, profiles_dir, threads, variables), indexes in groups.items():
        run = _ProjectRun(ctx, project, target, profiles_dir, threads, variables)
        for index, answer in zip(indexes, run.check([requests[i] for i in indexes])):
            outcomes[index] = answer
    return [o for o in outcomes if o is not None]


# --------------------------------------------------------------------------------------------------
# Running dbt


@contextmanager
def _inside(project_dir: Path, duckdb_path: Path) -> Iterator[None]:
    """The project folder as working directory and the scratch DuckDB file, restored afterwards."""
    saved_cwd = os.getcwd()
    saved_env = {k: os.environ.get(k) for k in ("GRAPHBUILD_DUCKDB_PATH", "DBT_SEND_ANONYMOUS_USAGE_STATS", "DO_NOT_TRACK")}
    os.environ.update(GRAPHBUILD_DUCKDB_PATH=str(duckdb_path), DBT_SEND_ANONYMOUS_USAGE_STATS="false", DO_NOT_TRACK="1")
    os.chdir(project_dir)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _release_duckdb()


def _isolated_profiles(project_dir: Path, profiles_dir: str, target: str, run_dir: Path, duckdb_path: Path) -> tuple[Path, str]:
    """The profiles folder to run with: the project's own, whose DuckDB output reads GRAPHBUILD_DUCKDB_PATH.

    A DuckDB output with a fixed path would write into the workspace and collide with parallel runs:
    it is run from a copy of profiles.yml in the scratch folder with the path replaced, and said so.
    """
    import yaml

    folder = (project_dir / profiles_dir).resolve()
    try:
        profiles = yaml.safe_load((folder / "profiles.yml").read_text(encoding="utf-8")) or {}
        profile = (yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8")) or {}).get("profile")
    except (OSError, yaml.YAMLError):
        return folder, ""  # dbt reports it
    output = ((profiles.get(profile) or {}).get("outputs") or {}).get(target) if isinstance(profiles, dict) else None
    if not isinstance(output, dict) or output.get("type") != "duckdb" or "GRAPHBUILD_DUCKDB_PATH" in str(output.get("path", "")):
        return folder, ""
    output["path"] = str(duckdb_path)
    isolated = run_dir / "profiles"
    isolated.mkdir(exist_ok=True)
    (isolated / "profiles.yml").write_text(yaml.safe_dump(profiles, sort_keys=False), encoding="utf-8")
    return isolated, (f"note: profile {profile} target {target} does not read env_var('GRAPHBUILD_DUCKDB_PATH'): "
                      f"ran with its DuckDB path replaced by {duckdb_path}")


def _release_duckdb() -> None:
    """Close dbt-duckdb's process-wide database so the worker keeps no scratch file open between calls."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter
        return
    environment = DuckDBConnectionManager._ENV
    if environment is not None:
        try:
            environment.close()
        finally:
            DuckDBConnectionManager.close_all_connections()


@dataclass
class _Invocation:
    ok: bool
    result: Any
    error: str


@dataclass
class _ProjectRun:
    ctx: HandlerContext
    project: str
    target: str
    profiles_dir: str
    threads: int | None
    variables: str = ""  # [rules.dbt] vars as JSON, given to dbt as --vars
    run_dir: Path = field(init=False)
    profiles_path: Path = field(init=False)

    @property
    def project_dir(self) -> Path:
        return (self.ctx.root / self.project).resolve()

    def _args(self) -> list[str]:
        args = [
            "--project-dir", str(self.project_dir),
            "--profiles-dir", str(self.profiles_path),
            "--target-path", str(self.run_dir / "target"),
            "--log-path", str(self.run_dir / "logs"),
            "--target", self.target,
            "--no-use-colors",
            "--log-format", "text",
        ]  # fmt: skip
        args += ["--vars", self.variables] if self.variables else []
        return args + (["--threads", str(self.threads)] if self.threads else [])

    def _invoke(self, runner: Any, command: str, *extra: str) -> _Invocation:
        result = runner.invoke([command, *self._args(), *extra])
        error = "" if result.exception is None else str(result.exception).strip()
        return _Invocation(bool(result.success), result.result, error)

    def check(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not (self.project_dir / "dbt_project.yml").is_file():
            return [outcome("failed", f"{self.project}/dbt_project.yml: no dbt project there")] * len(requests)
        self.ctx.scratch.mkdir(parents=True, exist_ok=True)
        self.run_dir = Path(tempfile.mkdtemp(prefix="dbt-", dir=self.ctx.scratch))
        artifacts = {
            "run_results": str(self.run_dir / "target" / "run_results.json"),
            "manifest": str(self.run_dir / "target" / "manifest.json"),
            "dbt_log": str(self.run_dir / "logs" / "dbt.log"),
        }
        from dbt.cli.main import dbtRunner

        duckdb_path = self.run_dir / "warehouse.duckdb"
        self.profiles_path, note = _isolated_profiles(self.project_dir, self.profiles_dir, self.target, self.run_dir, duckdb_path)
        validation: list[str] = []  # dbt logs why the semantic layer is invalid; its exception only says that it is

        def on_event(event: Any) -> None:
            if event.info.name == "SemanticValidationFailure" and event.info.level == "error":
                validation.append(event.info.msg)

        with _inside(self.project_dir, duckdb_path):
            parsed = self._invoke(dbtRunner(callbacks=[on_event]), "parse")
            if not parsed.ok and validation:
                return semantic_failures(self.project, requests, validation, parsed.error, _existing(artifacts))
            if not parsed.ok or parsed.result is None:
                return parse_failures(self.project, self.project_dir, requests, parsed.error or "dbt parse failed", _existing(artifacts))
            manifest = parsed.result
            plan = _Plan.of(manifest, requests)
            results: dict[str, Any] = {}
            build_error = ""
            if plan.selectors:
                built = self._invoke(dbtRunner(manifest=manifest), "build", "--indirect-selection", "empty",
                                     "--select", *plan.selectors, *(["--exclude", *plan.excludes] if plan.excludes else []))
                if built.result is not None:
                    results = {r.node.unique_id: r for r in built.result.results}
                build_error = built.error
            probes = _probe_sources(manifest, [u for ids in plan.owned for u in ids if u.startswith("source.")])
        report = Report(self.project, self.project_dir, manifest, plan.owned, plan.unknown, results, build_error, probes)
        outcomes = [report.outcome(i, request) for i, request in enumerate(requests)]
        return [{**o, "log": f"{o['log']}\n{note}" if note else o["log"], "artifacts": _existing(artifacts)} for o in outcomes]


def _existing(artifacts: Mapping[str, str]) -> dict[str, str]:
    """The artifacts dbt wrote: a call that parses only (the project, the semantic layer) writes no run results."""
    return {name: path for name, path in artifacts.items() if Path(path).is_file()}


# --------------------------------------------------------------------------------------------------
# What each request answers for, and what must be built for it


@dataclass
class _Plan:
    owned: list[list[str]]  # per request: the unique ids it answers for, in manifest order
    unknown: dict[int, str]  # request index -> why dbt has no node for it
    prerequisites: set[str]
    selectors: list[str]
    excludes: list[str]

    @classmethod
    def of(cls, manifest: Any, requests: Sequence[Mapping[str, Any]]) -> _Plan:
        project = manifest.metadata.project_name
        owners = _test_owners(manifest)
        owned: list[list[str]] = []
        unknown: dict[int, str] = {}
        for index, request in enumerate(requests):
            ids, why = _owned_by(manifest, project, request, owners)
            owned.append(ids)
            if why:
                unknown[index] = why
        wanted = {uid for ids in owned for uid in ids}
        prerequisites = upstream(manifest, wanted, buildable_only=True) - wanted
        selectors, excludes = [], []
        for uid in sorted(wanted | prerequisites):
            node = manifest.nodes.get(uid) or manifest.unit_tests.get(uid)
            if node is None:  # a source: not built, its tests are selected on their own
                continue
            selectors.append("fqn:" + ".".join(node.fqn))
            if node.resource_type in BUILDABLE:  # a model's fqn also selects its unit tests
                excludes += ["fqn:" + ".".join(t.fqn) for t in _unit_tests_of(manifest, uid) if t.unique_id not in wanted]
        return cls(owned, unknown, prerequisites, selectors, excludes)


def _test_owners(manifest: Any) -> dict[str, list[str]]:
    """Test unique id -> the nodes answering for it: the attached node, the refs of a singular test."""
    owners: dict[str, list[str]] = {}
    for uid, node in manifest.nodes.items():
        if node.resource_type != "test":
            continue
        attached = getattr(node, "attached_node", None)
        parents = list(node.depends_on.nodes)
        if attached:
            owners[uid] = [attached]
        elif getattr(node, "test_metadata", None) is not None:  # a generic test on a source table
            owners[uid] = [p for p in parents if p.startswith("source.")] or parents
        else:
            owners[uid] = parents
    for uid, test in manifest.unit_tests.items():
        owners[uid] = [p for p in test.depends_on.nodes if p.startswith("model.")]
    return owners


def _unit_tests_of(manifest: Any, model_id: str) -> list[Any]:
    return [t for t in manifest.unit_tests.values() if model_id in t.depends_on.nodes]


def _owned_by(manifest: Any, project: str, request: Mapping[str, Any], owners: Mapping[str, list[str]]) -> tuple[list[str], str]:
    kind, name = request["kind"], request["node"]
    if kind == "dbt_project":
        return [], ""
    if kind == "dbt_macro":
        return _macro_users(manifest, project, request["file"]), ""
    if kind in SEMANTIC_COLLECTIONS:  # checked by dbt parse's semantic validation: dbt must know it
        entry = name.partition(".")[2]
        if any(n.name == entry and n.package_name == project for n in getattr(manifest, SEMANTIC_COLLECTIONS[kind]).values()):
            return [], ""
        return [], f"dbt knows no {kind.removeprefix('dbt_').replace('_', ' ')} {entry}"
    if kind == "dbt_source":
        source, _, table = name.partition(".")
        uid = next((u for u, s in manifest.sources.items() if s.package_name == project and s.source_name == source and s.name == table), None)
    else:
        resource = {"dbt_model": "model", "dbt_seed": "seed"}.get(kind, kind)
        uid = next((u for u, n in manifest.nodes.items() if n.package_name == project and n.resource_type == resource and n.name == name), None)
    if uid is None:
        disabled = any(getattr(n, "name", None) == name for nodes in manifest.disabled.values() for n in nodes)
        return [], f"dbt {'has disabled' if disabled else 'knows no'} {kind.removeprefix('dbt_')} {name}"
    tests = [t for t, who in owners.items() if uid in who]
    return [uid, *tests], ""


def _macro_users(manifest: Any, project: str, file: str) -> list[str]:
    """Models and data tests that call a macro of the file, directly or through other macros."""
    used = {uid for uid, m in manifest.macros.items() if m.package_name == project and m.original_file_path == file}
    callers: dict[str, set[str]] = defaultdict(set)
    for uid, macro in manifest.macros.items():
        for callee in macro.depends_on.macros:
            callers[callee].add(uid)
    frontier = list(used)
    while frontier:
        for caller in callers.get(frontier.pop(), ()):
            if caller not in used:
                used.add(caller)
                frontier.append(caller)
    return [
        uid for uid, node in manifest.nodes.items()
        if node.resource_type in ("model", "seed", "test") and used & set(node.depends_on.macros)
    ]  # fmt: skip


def _probe_sources(manifest: Any, sources: list[str]) -> dict[str, tuple[str, list[str]]]:
    """Read the sources that resolve to files on DuckDB (``external_location``, e.g. the sample CSVs).

    Runs in the project folder (the locations are relative to it), in an in-memory database: (the
    read error, or the declared columns the data does not have) per source; others are not probed.
    """
    if manifest.metadata.adapter_type != "duckdb":
        return {}
    import duckdb

    found: dict[str, tuple[str, list[str]]] = {}
    with duckdb.connect() as connection:
        for uid in sources:
            source = manifest.sources[uid]
            relation = source.relation_name or ""
            if "(" not in relation:  # a table in the warehouse, not a file
                continue
            try:
                columns = {row[0].lower() for row in connection.execute(f"describe select * from {relation}").fetchall()}
            except duckdb.Error as exc:
                found[uid] = (first_line(str(exc)), [])
                continue
            found[uid] = ("", [c for c in source.columns if c.lower() not in columns])
    return found
