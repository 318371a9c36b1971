"""Outcomes of the dbt checks: what failed, where (file:line) and why, in dbt's own words.

dbt reports a failure against a node; a graphbuild target answers with the file a person edits: the
YAML entry of a failing data test, unit test or contract column, the SQL line DuckDB quotes (found
back in the model's source), the file dbt names when it cannot parse the project (or, when its
block lexer names none, the template Jinja cannot parse).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["BUILDABLE", "SEMANTIC_COLLECTIONS", "Report", "first_line", "outcome", "parse_failures", "semantic_failures", "upstream"]

BUILDABLE = ("model", "seed", "snapshot")
# semantic-layer target kind -> the manifest collection holding its nodes (dbt parse validates them)
SEMANTIC_COLLECTIONS = {"dbt_semantic_model": "semantic_models", "dbt_metric": "metrics", "dbt_saved_query": "saved_queries"}
_BAD = ("error", "fail", "runtime error")
_ERROR_HEADER = re.compile(r"^(\w+(?: \w+)? Error)(?: in \w+ .*\))?$")
_FILE = re.compile(r"[\w./-]+\.(?:sql|yml|yaml|csv|md)\b")
_DBT_LINE = re.compile(r"\bline (\d+)\b")
_DUCKDB_LINE = re.compile(r"^\s*LINE \d+:\s?(.*)$", re.MULTILINE)
_CONTRACT_ROW = re.compile(r"^\s*\|([^|\n]*)\|([^|\n]*)\|([^|\n]*)\|([^|\n]*)\|\s*$", re.MULTILINE)


def outcome(status: str, summary: str, log: str = "", artifacts: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"status": status, "summary": summary, "log": log or summary, "artifacts": dict(artifacts or {})}


def parse_failures(project: str, project_dir: Path, requests: list[dict[str, Any]], error: str, artifacts: dict[str, str]) -> list[dict[str, Any]]:
    """The target whose file dbt names fails with dbt's message; the others cannot be checked."""
    first = first_line(error)
    found = _DBT_LINE.search(error)
    line = found.group(1) if found else None
    known = [f for r in requests for f in _request_files(r)]
    culprit = _error_file(error, known, project_dir)
    if culprit is None:  # dbt's block lexer names no file: find the template Jinja cannot parse
        culprit, line, jinja = _jinja_error(project_dir, known)
        error = f"{error}\n{jinja}" if jinja else error
    where = f"{project}/{culprit}" + (f":{line}" if line else "") if culprit else project
    outcomes = []
    for request in requests:
        if culprit in _request_files(request):
            summary = f"{where}: dbt cannot parse it: {first}"
        else:
            summary = f"not checked: dbt cannot parse the project ({where}: {first})"
        outcomes.append(outcome("failed", summary, error, artifacts))
    return outcomes


def semantic_failures(
    project: str, requests: list[dict[str, Any]], messages: list[str], error: str, artifacts: dict[str, str]
) -> list[dict[str, Any]]:
    """dbt's semantic validation failed: the semantic-layer targets its messages name fail with them.

    When the messages name none of the requested ones, every semantic-layer request fails with the
    first message; other requests cannot be checked without a manifest.
    """
    log = "\n".join([*messages, error])
    semantic = [r for r in requests if r["kind"] in SEMANTIC_COLLECTIONS]
    named = {id(r): [m for m in messages if _names_entry(m, r)] for r in semantic}
    blamed = {id(r) for r in semantic if named[id(r)]} or {id(r) for r in semantic}
    outcomes = []
    for request in requests:
        mine = named.get(id(request)) or messages
        if id(request) in blamed:
            more = f" (and {len(mine) - 1} more)" if len(mine) > 1 else ""
            summary = f"{project}/{request['file']}: dbt's semantic validation fails: {mine[0]}{more}"
        else:
            summary = f"not checked: dbt's semantic validation fails ({messages[0]})"
        outcomes.append(outcome("failed", summary, log, artifacts))
    return outcomes


def _names_entry(message: str, request: Mapping[str, Any]) -> bool:
    """Whether a validation message names the request's semantic model, metric or saved query."""
    what = request["kind"].removeprefix("dbt_").replace("_", " ")
    name = re.escape(request["node"].partition(".")[2])
    return re.search(rf"{what}s?\s+(?:named\s+)?[`'\"]{name}[`'\"]", message, re.IGNORECASE) is not None


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


def first_line(text: str) -> str:
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


def upstream(manifest: Any, roots: set[str], *, buildable_only: bool = False) -> set[str]:
    """Every node upstream of ``roots`` (only models, seeds and snapshots if ``buildable_only``)."""
    seen: set[str] = set()
    frontier = list(roots)
    while frontier:
        uid = frontier.pop()
        node = manifest.nodes.get(uid) or manifest.unit_tests.get(uid)
        for parent in getattr(getattr(node, "depends_on", None), "nodes", ()):
            if parent in seen:
                continue
            if buildable_only and getattr(manifest.nodes.get(parent), "resource_type", None) not in BUILDABLE:
                continue
            seen.add(parent)
            frontier.append(parent)
    return seen


@dataclass
class Report:
    """The outcome of each request of one dbt run, from the manifest and dbt's run results."""

    project: str
    project_dir: Path
    manifest: Any
    owned: list[list[str]]  # per request: the unique ids it answers for
    unknown: Mapping[int, str]  # request index -> why dbt has no node for it
    results: Mapping[str, Any]
    build_error: str
    probes: Mapping[str, tuple[str, list[str]]]  # source unique id -> (read error, declared columns missing)

    def node(self, uid: str) -> Any:
        return self.manifest.nodes.get(uid) or self.manifest.unit_tests.get(uid) or self.manifest.sources.get(uid)

    def outcome(self, index: int, request: Mapping[str, Any]) -> dict[str, Any]:
        label = f"{request['kind'].removeprefix('dbt_')} {request['node']}"
        if index in self.unknown:
            return outcome("failed", f"{self.project}/{request['file']}: {self.unknown[index]} (graphbuild and dbt disagree)")
        if request["kind"] == "dbt_project":
            m = self.manifest
            return outcome("passed", f"dbt parses {self.project}: {_count([*m.nodes, *m.unit_tests, *m.sources])}")
        if request["kind"] in SEMANTIC_COLLECTIONS:
            return outcome("passed", f"dbt parses and validates {label} in {self.project}")
        owned = [uid for uid in self.owned[index] if not uid.startswith("source.")]
        source = next((u for u in self.owned[index] if u.startswith("source.")), None)
        by_status: dict[str, list[str]] = defaultdict(list)
        lines = [f"dbt build of {label} in {self.project}:"]
        for uid in owned:
            result = self.results.get(uid)
            status = str(result.status) if result is not None else "not run"
            by_status["failed" if status in _BAD else status].append(uid)
            lines.append(f"{status:>8}  {uid}")
            if status in _BAD or status == "warn":
                lines.append(_indent(self._details(result)))
        problem = self._source_problem(source) if source in self.probes else ""
        if source in self.probes:
            lines.append(problem or f"the source reads, with its {len(self.node(source).columns)} declared columns")
        log = "\n".join(lines)

        if problem:
            return outcome("failed", problem, log)
        if failed := by_status["failed"]:
            first = self.results[failed[0]]
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            return outcome("failed", f"{self._where(first)}: {self._what(first)}{more}", log)
        if skipped := by_status["skipped"]:
            return self._skipped(label, skipped, log)
        if missing := by_status["not run"]:
            why = f": {first_line(self.build_error)}" if self.build_error else ""
            summary = f"{self.project}/{request['file']}: dbt did not run {', '.join(missing)}{why}"
            return outcome("failed", summary, f"{log}\n{self.build_error}")
        if not owned and source is not None:
            if source in self.probes:
                columns = len(self.node(source).columns)
                return outcome("passed", f"{label} reads, with its {columns} declared columns (it has no data tests)", log)
            return outcome("skipped", f"nothing to check: {label} declares no data tests", log)
        if not owned:
            return outcome("passed", f"{label} parses; no model or data test of {self.project} uses it", log)
        warned = by_status["warn"]
        warnings = f" ({len(warned)} warned: {', '.join(self.node(u).name for u in warned)})" if warned else ""
        return outcome("passed", f"dbt build of {label} passed: {_count(owned)}{warnings}", log)

    def _skipped(self, label: str, skipped: list[str], log: str) -> dict[str, Any]:
        """Skipped by dbt after an upstream failure: ``skipped`` if a target of this call reports it."""
        culprits = self._culprits(skipped)
        names = ", ".join(self._describe(c) for c in culprits) or "an upstream node"
        if culprits and set(culprits) <= {u for ids in self.owned for u in ids}:
            return outcome("skipped", f"not checked: dbt skipped {label} because {names} failed upstream", log)
        details = "\n".join(self._details(self.results[c]) for c in culprits)
        return outcome("failed", f"cannot check {label}: upstream {names} failed", f"{log}\n{details}")

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
        above = upstream(self.manifest, set(skipped))
        found = []
        for uid, result in self.results.items():
            if str(result.status) not in _BAD:
                continue
            node = self.node(uid)
            anchors = {uid, getattr(node, "attached_node", None) or uid, *getattr(node.depends_on, "nodes", ())}
            if anchors & above:
                found.append(uid)
        return found

    def _what(self, result: Any) -> str:
        node = result.node
        kind = {"test": "data test", "unit_test": "unit test"}.get(node.resource_type, node.resource_type)
        message = str(result.message or "")
        if "contract" in message and node.resource_type == "model":
            rows = _contract_rows(message)
            if not rows:
                return f"contract of model {node.name} not met: {first_line(message)}"
            details = "; ".join(f"{c} is {sql or 'missing'} in the SQL, {declared or 'missing'} in the contract ({why})" for c, sql, declared, why in rows)
            return f"contract of model {node.name} not met for {details}"
        if node.resource_type == "unit_test":
            model = getattr(self.manifest.unit_tests.get(node.unique_id), "model", "its model")
            return f"unit test {node.name} of {model} failed: {first_line(message)}"
        return f"{kind} {node.name} failed: {first_line(message)}"

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
            sources = [self.node(d) for d in node.depends_on.nodes if d.startswith("source.")]
            if attached is not None:
                needles = [f"name: {attached.name}"]
            elif sources:  # a source test: the source, then its table
                needles = [f"name: {sources[0].source_name}", f"name: {sources[0].name}"]
            column = getattr(node, "column_name", None)
            needles += [f"name: {column}" if column else "", node.test_metadata.name]
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
