"""The dbt checks: real dbt on the embedded DuckDB target, one ``dbt build`` per project and call.

The engine sends every selected dbt action of one project in one call (batch ``dbt:<project>``);
the handler runs dbt in-process through its programmatic API (``dbtRunner``: the ``dbt`` worker
imports dbt once and serves many calls)::

    check_dbt([{"project": "dbt", "kind": "dbt_model", "node": "fct_payments",
                "file": "models/marts/payments/fct_payments.sql", "target": "dev"}], ctx)

1. ``dbt parse``. A Jinja or YAML error fails the target whose file dbt names, at dbt's line; the
   other targets of the call fail too, naming that file: nothing can be checked without a manifest.
2. One ``dbt build`` of an explicit selection with ``--indirect-selection empty``:

   - every node a requested target *answers for*, built and tested on the real sample data;
   - its *prerequisites*, the unselected ancestors of those nodes and of the parents of their data
     tests (``dim_merchants`` for the relationships test of ``fct_payments``), as models and seeds
     only: none of their own data tests or unit tests run. dbt orders the lot.

   What a target answers for, and so fails on: a model or seed, its compilation, contract and
   materialisation, the generic data tests attached to it, the singular tests that ref it and its
   unit tests; a source table, its data tests; a macro file, every model and data test that uses
   one of its macros (directly or through another macro), so a generic test macro is checked by the
   tests that use it; the project, that it parses. A target whose nodes dbt skipped because
   something upstream failed is ``skipped`` with that reason when another target of the call
   reports the failure, ``failed`` when the culprit is an unselected prerequisite.

Prerequisites are built from real data, not with dbt's ``--empty``: an empty parent gives the
selected model zero rows, and every data test on zero rows passes vacuously (``not_null``,
``relationships``, the reconciliation tests). On DuckDB the staging and intermediate layers are
views over the sample CSVs, so building them for real costs no more than building them empty; the
time ``--empty`` would save is that of their data tests and unit tests, which are not run anyway.
Selecting one mart therefore needs no full project build.

Isolation: dbt's target path, log path and the DuckDB file (``GRAPHBUILD_DUCKDB_PATH``, read by the
project's ``profiles.yml``) live in a fresh folder under ``ctx.scratch``; nothing is written into
the workspace, so parallel runs cannot collide. The sample-data locations of the sources are
relative to the project folder, so the working directory is the project folder during the call and
is restored after it (a worker serves one call at a time).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphbuild.run.action import HandlerContext

__all__ = ["check_dbt"]

_BUILDABLE = ("model", "seed", "snapshot")
_OK = ("success", "pass")
_BAD = ("error", "fail", "runtime error")
_ERROR_HEADER = re.compile(r"^(\w+(?: \w+)? Error)(?: in \w+ .*\))?$")
_FILE = re.compile(r"[\w./-]+\.(?:sql|yml|yaml|csv|md)\b")
_DBT_LINE = re.compile(r"\bline (\d+)\b")
_DUCKDB_LINE = re.compile(r"^\s*LINE \d+:\s?(.*)$", re.MULTILINE)
_CONTRACT_ROW = re.compile(r"^\s*\|([^|\n]*)\|([^|\n]*)\|([^|\n]*)\|([^|\n]*)\|\s*$", re.MULTILINE)


def check_dbt(requests: list[dict[str, Any]], ctx: HandlerContext) -> list[dict[str, Any]]:
    """One outcome per request; the requests of each project (and profile target) share one dbt run."""
    outcomes: list[dict[str, Any] | None] = [None] * len(requests)
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for index, request in enumerate(requests):
        key = (request["project"], request.get("target", "dev"), request.get("profiles_dir", "."), request.get("threads"))
        groups[key].append(index)
    for (project, target, profiles_dir, threads), indexes in groups.items():
        run = _ProjectRun(ctx, project, target, profiles_dir, threads)
        for index, outcome in zip(indexes, run.check([requests[i] for i in indexes])):
            outcomes[index] = outcome
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
        return args + (["--threads", str(self.threads)] if self.threads else [])

    def _invoke(self, runner: Any, command: str, *extra: str) -> _Invocation:
        result = runner.invoke([command, *self._args(), *extra])
        error = "" if result.exception is None else str(result.exception).strip()
        return _Invocation(bool(result.success), result.result, error)

    def check(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not (self.project_dir / "dbt_project.yml").is_file():
            return [_outcome("failed", f"{self.project}/dbt_project.yml: no dbt project there")] * len(requests)
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
        with _inside(self.project_dir, duckdb_path):
            parsed = self._invoke(dbtRunner(), "parse")
            if not parsed.ok or parsed.result is None:
                return self._parse_failures(requests, parsed.error or "dbt parse failed", artifacts)
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
        report = _Report(self.project, self.project_dir, manifest, plan, results, build_error, probes)
        outcomes = [report.outcome(i, request) for i, request in enumerate(requests)]
        return [{**o, "log": f"{o['log']}\n{note}" if note else o["log"], "artifacts": artifacts} for o in outcomes]

    def _parse_failures(self, requests: list[dict[str, Any]], error: str, artifacts: dict[str, str]) -> list[dict[str, Any]]:
        """The target whose file dbt names fails with dbt's message; the others cannot be checked."""
        first = _first_line(error)
        found = _DBT_LINE.search(error)
        line = found.group(1) if found else None
        known = [f for r in requests for f in _request_files(r)]
        culprit = _error_file(error, known, self.project_dir)
        if culprit is None:  # dbt's block lexer names no file: find the template Jinja cannot parse
            culprit, line, jinja = _jinja_error(self.project_dir, known)
            error = f"{error}\n{jinja}" if jinja else error
        where = f"{self.project}/{culprit}" + (f":{line}" if line else "") if culprit else self.project
        outcomes = []
        for request in requests:
            if culprit in _request_files(request):
                summary = f"{where}: dbt cannot parse it: {first}"
            else:
                summary = f"not checked: dbt cannot parse the project ({where}: {first})"
            outcomes.append(_outcome("failed", summary, error, artifacts))
        return outcomes


def _error_file(error: str, known: list[str], project_dir: Path) -> str | None:
    """The project file a dbt error names; dbt sometimes drops the model-paths folder (``marts/x.yml``)."""
    for mentioned in _FILE.findall(error):
        mentioned = mentioned.removeprefix("./")
        found = next((f for f in known if f == mentioned or f.endswith("/" + mentioned)), None)
        if found is None and (project_dir / mentioned).is_file():
            found = mentioned
        if found is None:
            found = next((str(p.relative_to(project_dir)) for folder in ("models", "seeds", "macros", "tests", "snapshots")
                          for p in (project_dir / folder).glob(mentioned)), None)
        if found is not None:
            return found
    return None


def _jinja_error(project_dir: Path, known: list[str]) -> tuple[str | None, str | None, str]:
    """The first SQL file (the requested ones first) whose Jinja does not parse: (file, line, message)."""
    from dbt_common.clients.jinja import get_environment
    from jinja2 import TemplateSyntaxError

    environment = get_environment()
    others = sorted(str(p.relative_to(project_dir)) for p in project_dir.rglob("*.sql")
                    if not {"target", "dbt_packages", "logs"} & set(p.relative_to(project_dir).parts))
    for file in dict.fromkeys([*(f for f in known if f.endswith(".sql")), *others]):
        try:
            environment.parse((project_dir / file).read_text(encoding="utf-8"))
        except TemplateSyntaxError as exc:
            return file, str(exc.lineno), f"{file}:{exc.lineno}: Jinja: {exc.message}"
        except (OSError, UnicodeDecodeError):
            continue
    return None, None, ""


def _request_files(request: Mapping[str, Any]) -> list[str]:
    return [request.get("file", ""), *request.get("files", ())]


def _first_line(text: str) -> str:
    """The line of a dbt message that says what is wrong (not "Runtime Error in model x (path)")."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "no message"
    if lines[0].startswith("actual differs from expected"):  # a unit test: name the first differing row
        rows = [", ".join(c.strip() for c in line.lstrip("→").split(",") if c.strip()) for line in lines if line.startswith("→")]
        return lines[0] + (f" (expected→actual) {rows[0]}" if rows else "")
    header = _ERROR_HEADER.match(lines[0])
    if header is None or len(lines) == 1:
        return lines[0]
    detail = lines[1]
    if detail.startswith("Error reading") and len(lines) > 2:  # "Error reading finsight: x.yml - Runtime Error"
        detail = lines[2]
    return detail if "Error" in detail.partition(":")[0] else f"{header.group(1)}: {detail}"


def _outcome(status: str, summary: str, log: str = "", artifacts: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"status": status, "summary": summary, "log": log or summary, "artifacts": dict(artifacts or {})}


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
        prerequisites = _upstream(manifest, wanted, buildable_only=True) - wanted
        selectors, excludes = [], []
        for uid in sorted(wanted | prerequisites):
            node = manifest.nodes.get(uid) or manifest.unit_tests.get(uid)
            if node is None:  # a source: not built, its tests are selected on their own
                continue
            selectors.append("fqn:" + ".".join(node.fqn))
            if node.resource_type in _BUILDABLE:  # a model's fqn also selects its unit tests
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
                found[uid] = (_first_line(str(exc)), [])
                continue
            found[uid] = ("", [c for c in source.columns if c.lower() not in columns])
    return found


def _upstream(manifest: Any, roots: set[str], *, buildable_only: bool = False) -> set[str]:
    """Every node upstream of ``roots`` (only models, seeds and snapshots if ``buildable_only``)."""
    seen: set[str] = set()
    frontier = list(roots)
    while frontier:
        uid = frontier.pop()
        node = manifest.nodes.get(uid) or manifest.unit_tests.get(uid)
        for parent in getattr(getattr(node, "depends_on", None), "nodes", ()):
            if parent in seen:
                continue
            if buildable_only and getattr(manifest.nodes.get(parent), "resource_type", None) not in _BUILDABLE:
                continue
            seen.add(parent)
            frontier.append(parent)
    return seen


# --------------------------------------------------------------------------------------------------
# Outcomes


@dataclass
class _Report:
    project: str
    project_dir: Path
    manifest: Any
    plan: _Plan
    results: Mapping[str, Any]
    build_error: str
    probes: Mapping[str, tuple[str, list[str]]]  # source unique id -> (read error, declared columns missing)

    def node(self, uid: str) -> Any:
        return self.manifest.nodes.get(uid) or self.manifest.unit_tests.get(uid) or self.manifest.sources.get(uid)

    def outcome(self, index: int, request: Mapping[str, Any]) -> dict[str, Any]:
        label = f"{request['kind'].removeprefix('dbt_')} {request['node']}"
        if index in self.plan.unknown:
            return _outcome("failed", f"{self.project}/{request['file']}: {self.plan.unknown[index]} (graphbuild and dbt disagree)")
        if request["kind"] == "dbt_project":
            m = self.manifest
            return _outcome("passed", f"dbt parses {self.project}: {_count([*m.nodes, *m.unit_tests, *m.sources])}")
        owned = [uid for uid in self.plan.owned[index] if not uid.startswith("source.")]
        source = next((u for u in self.plan.owned[index] if u.startswith("source.")), None)
        by_status: dict[str, list[str]] = defaultdict(list)
        lines = [f"dbt build of {label} in {self.project}:"]
        for uid in owned:
            result = self.results.get(uid)
            status = str(result.status) if result is not None else "not run"
            by_status["failed" if status in _BAD else status].append(uid)
            lines.append(f"{status:>8}  {uid}")
            if status in _BAD or status == "warn":
                lines.append(_indent(self._details(result)))
        if source in self.probes:
            lines.append(self._source_problem(source) or f"the source reads, with its {len(self.node(source).columns)} declared columns")
        log = "\n".join(lines)

        if source in self.probes and self._source_problem(source):
            return _outcome("failed", self._source_problem(source), log)
        if failed := by_status["failed"]:
            first = self.results[failed[0]]
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            return _outcome("failed", f"{self._where(first)}: {self._what(first)}{more}", log)
        if skipped := by_status["skipped"]:
            return self._skipped(label, skipped, log)
        if missing := by_status["not run"]:
            why = f": {_first_line(self.build_error)}" if self.build_error else ""
            summary = f"{self.project}/{request['file']}: dbt did not run {', '.join(missing)}{why}"
            return _outcome("failed", summary, f"{log}\n{self.build_error}")
        if not owned and source is not None:
            if source in self.probes:
                columns = len(self.node(source).columns)
                return _outcome("passed", f"{label} reads, with its {columns} declared columns (it has no data tests)", log)
            return _outcome("skipped", f"nothing to check: {label} declares no data tests", log)
        if not owned:
            return _outcome("passed", f"{label} parses; no model or data test of {self.project} uses it", log)
        warned = by_status["warn"]
        warnings = f" ({len(warned)} warned: {', '.join(self.node(u).name for u in warned)})" if warned else ""
        return _outcome("passed", f"dbt build of {label} passed: {_count(owned)}{warnings}", log)

    def _skipped(self, label: str, skipped: list[str], log: str) -> dict[str, Any]:
        """Skipped by dbt after an upstream failure: ``skipped`` if a target of this call reports it."""
        culprits = self._culprits(skipped)
        names = ", ".join(self._describe(c) for c in culprits) or "an upstream node"
        if culprits and set(culprits) <= {u for ids in self.plan.owned for u in ids}:
            return _outcome("skipped", f"not checked: dbt skipped {label} because {names} failed upstream", log)
        details = "\n".join(self._details(self.results[c]) for c in culprits)
        return _outcome("failed", f"cannot check {label}: upstream {names} failed", f"{log}\n{details}")

    # -- naming what failed ------------------------------------------------------------------

    def _source_problem(self, uid: str) -> str:
        node = self.node(uid)
        error, missing = self.probes[uid]
        needles = [f"name: {node.source_name}", f"name: {node.name}", *([f"name: {missing[0]}"] if missing else [])]
        line = _find_line(self.project_dir / node.original_file_path, needles)
        where = f"{self.project}/{node.original_file_path}" + (f":{line}" if line else "")
        if error:
            return f"{where}: source {node.source_name}.{node.name} cannot be read ({node.relation_name}): {error}"
        if missing:
            return f"{where}: source {node.source_name}.{node.name} declares columns its data does not have: {', '.join(missing)}"
        return ""

    def _describe(self, uid: str) -> str:
        node = self.node(uid)
        return f"{node.resource_type.replace('_', ' ')} {node.name} ({self.project}/{node.original_file_path})"

    def _culprits(self, skipped: list[str]) -> list[str]:
        upstream = _upstream(self.manifest, set(skipped))
        found = []
        for uid, result in self.results.items():
            if str(result.status) not in _BAD:
                continue
            node = self.node(uid)
            anchors = {uid, getattr(node, "attached_node", None) or uid, *getattr(node.depends_on, "nodes", ())}
            if anchors & upstream:
                found.append(uid)
        return found

    def _what(self, result: Any) -> str:
        node = result.node
        kind = {"test": "data test", "unit_test": "unit test"}.get(node.resource_type, node.resource_type)
        message = str(result.message or "")
        if "contract" in message and node.resource_type == "model":
            rows = _contract_rows(message)
            if not rows:
                return f"contract of model {node.name} not met: {_first_line(message)}"
            details = "; ".join(f"{c} is {sql or 'missing'} in the SQL, {declared or 'missing'} in the contract ({why})" for c, sql, declared, why in rows)
            return f"contract of model {node.name} not met for {details}"
        if node.resource_type == "unit_test":
            model = getattr(self.manifest.unit_tests.get(node.unique_id), "model", "its model")
            return f"unit test {node.name} of {model} failed: {_first_line(message)}"
        return f"{kind} {node.name} failed: {_first_line(message)}"

    def _where(self, result: Any) -> str:
        """file:line of what failed: the YAML entry of a test or contract column, the SQL line dbt names."""
        node = result.node
        message = str(result.message or "")
        path = node.original_file_path
        needles: list[str] = []
        if node.resource_type == "model" and "contract" in message and getattr(node, "patch_path", None):
            path = node.patch_path.split("://", 1)[-1]
            rows = _contract_rows(message)
            needles = [f"name: {node.name}", *([f"name: {rows[0][0]}", "data_type:"] if rows else [])]
        elif node.resource_type == "unit_test":
            needles = [f"name: {node.name}"]
        elif node.resource_type == "test" and getattr(node, "test_metadata", None) is not None:
            attached = self.node(node.attached_node) if getattr(node, "attached_node", None) else None
            column = getattr(node, "column_name", None)
            needles = [f"name: {attached.name}" if attached else "", f"name: {column}" if column else "", node.test_metadata.name]
        line = _find_line(self.project_dir / path, [n for n in needles if n]) if needles else None
        if line is None and path.endswith(".sql"):
            line = _sql_line(self.project_dir / path, message)
        return f"{self.project}/{path}" + (f":{line}" if line else "")

    def _details(self, result: Any) -> str:
        node = result.node
        text = [f"{self._describe(node.unique_id)}: {result.status}", str(result.message or "").strip()]
        compiled = getattr(node, "compiled_code", None)
        if compiled and node.resource_type == "test":
            text.append("compiled SQL:\n" + _indent(compiled.strip()))
        return "\n".join(t for t in text if t)


def _find_line(path: Path, needles: list[str]) -> int | None:
    """The line of the last needle, each searched after the previous one (a YAML entry, then a key)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    start, found = 0, None
    for needle in needles:
        hit = next((i for i in range(start, len(lines)) if needle in lines[i]), None)
        if hit is None:
            return found
        start, found = hit + 1, hit + 1
    return found


def _sql_line(path: Path, message: str) -> int | None:
    """DuckDB quotes the offending line of the compiled SQL (``LINE 12: selct ...``): find it in the source."""
    match = _DUCKDB_LINE.search(message)
    quoted = match.group(1).strip().strip(".").strip() if match else ""  # DuckDB elides long lines with "..."
    if quoted:
        try:
            hits = [n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if quoted in text]
        except OSError:
            return None
        return hits[0] if len(hits) == 1 else None  # Jinja changed the line, or it is not unique
    found = _DBT_LINE.search(message)
    return int(found.group(1)) if found else None


def _contract_rows(message: str) -> list[tuple[str, str, str, str]]:
    """The rows of dbt's contract table: (column, type in the SQL, type in the contract, reason)."""
    rows = [tuple(cell.strip() for cell in row) for row in _CONTRACT_ROW.findall(message)]
    return [r for r in rows if r[0] and r[0] != "column_name" and not set(r[0]) <= {"-"}]  # type: ignore[misc]


def _count(unique_ids: list[str]) -> str:
    """``1 model, 9 data tests, 1 unit test`` from unique ids, in that order of kinds."""
    kinds: dict[str, int] = defaultdict(int)
    for uid in unique_ids:
        kinds[uid.split(".", 1)[0]] += 1
    labels = {"model": "model", "seed": "seed", "test": "data test", "unit_test": "unit test", "source": "source table"}
    order = [*labels, *sorted(set(kinds) - set(labels))]
    return ", ".join(f"{kinds[k]} {labels.get(k, k)}{'s' if kinds[k] != 1 else ''}" for k in order if k in kinds)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
