"""The ``airflow_dag`` check: load each DAG file with Airflow's own DagBag and apply the DAG policies.

The handler runs in the persistent worker of the ``airflow`` pool: Airflow is imported once per
process and every DAG file gets a DagBag of its own, ``DagBag(dag_folder=<file>, safe_mode=False)``,
with Airflow's per-file import timeout (``dagbag_import_timeout``). No metadata database, connection
or network is needed: ``AIRFLOW_HOME`` is a folder under the worker's scratch and the settings below
are all Airflow reads while parsing::

    check_dags([{"file": "dags/payments/payments_daily.py", "dags_folder": "dags",
                 "other_dag_ids": {}, "policy": DEFAULT_POLICY}], HandlerContext(root, scratch))

A file fails on an import error (with the file's line from the traceback), a cycle, a parse timeout,
a top-level parse slower than ``parse_budget_s``, no DAG at all, a DAG that cannot be serialized the
way the DAG processor stores it, a ``dag_id`` another file also defines (``@asset`` DAGs included), a
task without a real owner (unless ``require_owner = false``) or with too few retries, a DAG without
tags, and (by policy ``error``, ``warn`` or ``off``) non-idempotent code run at parse time: wall-clock
calls such as ``datetime.now()`` and ``Variable.get``. ``airflow_environment`` is the shared setup
the platform tests use too.
"""

from __future__ import annotations

import ast
import io
import logging
import os
import re
import sys
import time
import traceback
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphbuild.run.action import HandlerContext

__all__ = [
    "DEFAULT_POLICY",
    "LEVELS",
    "airflow_environment",
    "airflow_settings",
    "check_dags",
    "dags_on_path",
    "parse_time_calls",
]

# The policies of `[rules.airflow.policy]`, with their defaults.
DEFAULT_POLICY: dict[str, Any] = {
    "require_owner": True,  # a task's owner is neither empty nor Airflow's default_owner ("airflow"); false: off
    "forbidden_owners": [],  # owners refused besides
    "allowed_owners": [],  # when set, every task's owner must be one of these teams
    "min_retries": 1,
    "require_tags": True,
    "parse_budget_s": 2.0,  # top-level parse time of one file, Airflow already imported
    "import_timeout_s": 30.0,  # Airflow's dagbag_import_timeout for one file
    "wall_clock": "error",  # datetime.now() and friends evaluated at parse time
    "top_level_variable": "error",  # Variable.get evaluated at parse time
}
LEVELS = ("error", "warn", "off")

# (owner, function) tails of calls that read the wall clock, after resolving import aliases.
_WALL_CLOCK = frozenset(
    {
        ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
        ("time", "time"), ("time", "time_ns"), ("pendulum", "now"), ("pendulum", "today"),
        ("DateTime", "now"), ("timezone", "utcnow"),
    }
)  # fmt: skip
_VARIABLE_GET = ("Variable", "get")
_FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)')


# --------------------------------------------------------------------------------------------------
# The environment Airflow parses in


def airflow_settings(
    home: Path, dags_folder: Path, *, import_timeout_s: float = 30.0, safe_mode: bool = False
) -> dict[str, str]:
    """The environment that lets Airflow parse DAG files with no metadata database and no examples."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAG_DISCOVERY_SAFE_MODE": str(safe_mode),
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": str(float(import_timeout_s)),
        "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS": "True",
        "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACK_DEPTH": "5",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }


@contextmanager
def _patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def dags_on_path(dags_folder: Path) -> Iterator[None]:
    """The DAGs folder first on ``sys.path``, as Airflow puts it there, so ``from common.x import y`` works."""
    entry = str(dags_folder)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)


@contextmanager
def airflow_environment(
    home: Path, dags_folder: Path, *, import_timeout_s: float = 30.0, safe_mode: bool = False
) -> Iterator[None]:
    """Airflow's settings in the environment and the DAGs folder on ``sys.path``; both restored after.

    ``AIRFLOW_HOME`` counts only before Airflow's first import in the process: import Airflow inside.
    """
    settings = airflow_settings(home, dags_folder, import_timeout_s=import_timeout_s, safe_mode=safe_mode)
    Path(home).mkdir(parents=True, exist_ok=True)
    with _patched_environ(settings), dags_on_path(dags_folder):
        yield


def _airflow_home(scratch: Path) -> Path:
    """The process's AIRFLOW_HOME: the one Airflow was imported with, else a new one under scratch."""
    if "airflow.configuration" in sys.modules:
        return Path(sys.modules["airflow.configuration"].AIRFLOW_HOME)
    return scratch / "airflow_home"


@contextmanager
def _isolated_modules(dags_folder: Path) -> Iterator[None]:
    """The DAGs folder's own packages (``common``) imported afresh, and forgotten afterwards.

    A persistent worker must see today's ``dags/common``, and must not leak it into another
    workspace's check (nor take another workspace's ``common`` for this one).
    """
    names = {
        entry.stem if entry.suffix == ".py" else entry.name
        for entry in dags_folder.iterdir()
        if (entry.suffix == ".py") or (entry / "__init__.py").is_file()
    } if dags_folder.is_dir() else set()  # fmt: skip

    def is_ours(name: str, module: Any) -> bool:
        if name.partition(".")[0] in names:
            return True
        location = getattr(module, "__file__", None) or ""
        return location.startswith(str(dags_folder) + os.sep)

    stashed = {name: module for name, module in list(sys.modules.items()) if is_ours(name, module)}
    for name in stashed:
        del sys.modules[name]
    try:
        yield
    finally:
        for name, module in list(sys.modules.items()):
            if is_ours(name, module):
                del sys.modules[name]
        sys.modules.update(stashed)


@contextmanager
def _captured_output() -> Iterator[io.StringIO]:
    """What Airflow prints and logs while parsing, kept for the outcome's log."""
    buffer = io.StringIO()
    streams = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    handlers = [
        h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler) and h.stream in streams
    ]
    saved = [(h, h.setStream(buffer)) for h in handlers]
    try:
        with redirect_stdout(buffer), redirect_stderr(buffer), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            yield buffer
        for warning in caught:
            buffer.write(f"{warning.filename}:{warning.lineno}: {warning.category.__name__}: {warning.message}\n")
    finally:
        for handler, stream in saved:
            if stream is not None:
                handler.setStream(stream)


# --------------------------------------------------------------------------------------------------
# Static reading: code that runs at parse time


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> dotted origin, from the module's imports (``dt`` -> ``datetime.datetime``)."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.partition(".")[0]
                found[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                found[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return found


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


class _ParseTimeCalls(ast.NodeVisitor):
    """Calls evaluated when the module is imported: not inside function or lambda bodies."""

    def __init__(self) -> None:
        self.calls: list[ast.Call] = []

    def visit_Call(self, node: ast.Call) -> None:
        self.calls.append(node)
        self.generic_visit(node)

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for child in (*node.decorator_list, *node.args.defaults, *node.args.kw_defaults):
            if child is not None:
                self.visit(child)

    visit_FunctionDef = visit_AsyncFunctionDef = _visit_function

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for child in (*node.args.defaults, *node.args.kw_defaults):
            if child is not None:
                self.visit(child)


def parse_time_calls(source: str) -> list[tuple[int, str, str]]:
    """(line, ``"wall_clock"`` or ``"top_level_variable"``, call as written) for parse-time calls.

    >>> parse_time_calls("from datetime import datetime\\nSTART = datetime.now()\\n")
    [(2, 'wall_clock', 'datetime.now()')]
    """
    tree = ast.parse(source)
    aliases = _aliases(tree)
    visitor = _ParseTimeCalls()
    visitor.visit(tree)
    found = []
    for call in visitor.calls:
        written = _dotted(call.func)
        if written is None:
            continue
        head, _, rest = written.partition(".")
        qualified = aliases.get(head, head) + (f".{rest}" if rest else "")
        tail = tuple(qualified.rsplit(".", 2)[-2:])
        if tail in _WALL_CLOCK:
            found.append((call.lineno, "wall_clock", f"{written}()"))
        elif tail == _VARIABLE_GET:
            found.append((call.lineno, "top_level_variable", f"{written}()"))
    return sorted(found)


# --------------------------------------------------------------------------------------------------
# One file


@dataclass
class _Report:
    file: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, level: str, line: int | None, message: str) -> None:
        where = self.file if line is None else f"{self.file}:{line}"
        if level == "error":
            self.errors.append(f"{where}: {message}")
        elif level == "warn":
            self.warnings.append(f"{where}: {message}")

    def outcome(self, passed_summary: str, output: str) -> dict[str, Any]:
        lines = [*self.notes]
        lines += [f"ERROR {e}" for e in self.errors] + [f"WARNING {w}" for w in self.warnings]
        if output.strip():
            lines += ["", "Airflow output:", output.rstrip()]
        log = "\n".join(lines)
        if self.errors:
            shown = self.errors[:3]
            more = f" (and {len(self.errors) - len(shown)} more, see the log)" if len(self.errors) > len(shown) else ""
            return {"status": "failed", "summary": "; ".join(shown) + more, "log": log, "artifacts": {}}
        summary = passed_summary
        if self.warnings:
            summary += f"; {len(self.warnings)} warning(s): {self.warnings[0]}"
        return {"status": "passed", "summary": summary, "log": log, "artifacts": {}}


def _policy(request: Mapping[str, Any]) -> dict[str, Any]:
    policy = {**DEFAULT_POLICY, **dict(request.get("policy") or {})}
    for key in ("wall_clock", "top_level_variable"):
        if policy[key] not in LEVELS:
            raise ValueError(f"policy {key} must be one of {', '.join(LEVELS)}, not {policy[key]!r}")
    if not isinstance(policy["require_owner"], bool):
        raise ValueError(f"policy require_owner must be true or false, not {policy['require_owner']!r}")
    return policy


def _error_line(text: str, path: Path) -> int | None:
    """The last line of the DAG file itself in a traceback."""
    lines = [int(m["line"]) for m in _FRAME.finditer(text) if Path(m["path"]) == path]
    return lines[-1] if lines else None


def _error_message(text: str) -> str:
    """The exception line of a traceback (or the whole one-line error)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if not line.startswith((" ", "*", "Please take a look")) and not line.startswith("Traceback"):
            return line.strip()
    return lines[-1].strip() if lines else "unknown error"


def _task_line(source: str, task_id: str) -> int | None:
    match = re.search(rf"task_id\s*=\s*[\"']{re.escape(task_id)}[\"']", source)
    return source.count("\n", 0, match.start()) + 1 if match else None


def _load(path: Path) -> tuple[Any, float]:
    from airflow.dag_processing.dagbag import DagBag

    start = time.perf_counter()
    bag = DagBag(dag_folder=str(path), safe_mode=False, load_op_links=False)
    return bag, time.perf_counter() - start


def _check_import_errors(bag: Any, path: Path, source: str, policy: Mapping[str, Any], report: _Report) -> None:
    for text in bag.import_errors.values():
        message = _error_message(text)
        line = _error_line(text, path)
        if "AirflowDagCycleException" in text:
            task = re.search(r"Faulty task: (\S+)", text)
            line = _task_line(source, task[1]) if task else None
            report.add("error", line, f"cycle in the task graph: {message.partition(': ')[2] or message}")
        elif "AirflowTaskTimeout" in text or "DagBag import timeout" in text:
            report.add("error", line, f"parse timed out after {policy['import_timeout_s']:g} s (dagbag_import_timeout)")
        else:
            report.add("error", line, f"import error: {message}")


def _check_dag(dag: Any, source: str, policy: Mapping[str, Any], report: _Report) -> None:
    from airflow.configuration import conf

    unowned = {"", None, conf.get("operators", "default_owner")} if policy["require_owner"] else set()
    forbidden = set(policy["forbidden_owners"])
    allowed = set(policy["allowed_owners"])
    if policy["require_tags"] and not dag.tags:
        report.add("error", None, f"DAG {dag.dag_id!r} has no tags")
    for task in dag.tasks:
        where = f"task {dag.dag_id}.{task.task_id}"
        line = _task_line(source, task.task_id)
        if task.owner in unowned:
            report.add("error", line, f"{where} has no owner (owner {task.owner!r}); set default_args owner")
        elif task.owner in forbidden:
            report.add("error", line, f"{where} has owner {task.owner!r}, which the policy forbids (forbidden_owners)")
        elif allowed and task.owner not in allowed:
            report.add("error", line, f"{where} has owner {task.owner!r}, not one of {sorted(allowed)}")
        if (task.retries or 0) < policy["min_retries"]:
            needed = policy["min_retries"]
            report.add("error", line, f"{where} has retries={task.retries}, the policy needs >= {needed}")
    try:
        from airflow.serialization.serialized_objects import DagSerialization

        restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
        if sorted(restored.task_ids) != sorted(dag.task_ids):
            report.add("error", None, f"DAG {dag.dag_id!r} loses tasks when serialized")
    except Exception as exc:  # what the DAG processor would fail on
        report.add("error", None, f"DAG {dag.dag_id!r} cannot be serialized: {type(exc).__name__}: {exc}")


def _check_bag(
    request: Mapping[str, Any],
    dags: list[Any],
    elapsed: float,
    policy: Mapping[str, Any],
    report: _Report,
    *,
    has_errors: bool,
) -> None:
    budget = policy["parse_budget_s"]
    if not has_errors and not dags:
        report.add("error", None, "defines no DAG (the DAG processor would ignore it)")
    if not has_errors and elapsed > budget:
        report.add("error", None, f"top-level parse took {elapsed:.2f} s, over the budget of {budget:g} s")
    others = request.get("other_dag_ids") or {}
    for dag in dags:
        if others.get(dag.dag_id):
            elsewhere = ", ".join(sorted(others[dag.dag_id]))
            report.add("error", None, f"dag_id {dag.dag_id!r} is also defined in {elsewhere}")


def _check_file(request: Mapping[str, Any], root: Path) -> dict[str, Any]:
    relative = request["file"]
    path = (root / relative).resolve()
    report = _Report(relative)
    try:
        policy = _policy(request)
    except ValueError as exc:
        return {"status": "failed", "summary": f"{relative}: {exc}", "log": str(exc), "artifacts": {}}
    if not path.is_file():
        return {"status": "failed", "summary": f"{relative}: file not found", "log": str(path), "artifacts": {}}
    source = path.read_text(encoding="utf-8", errors="replace")

    try:
        for line, rule, call in parse_time_calls(source):
            what = "reads the wall clock" if rule == "wall_clock" else "reads an Airflow Variable"
            report.add(policy[rule], line, f"{call} {what} at parse time: non-idempotent (policy {rule})")
    except SyntaxError:
        pass  # the DagBag reports it, with its line

    with _captured_output() as output:
        bag, elapsed = _load(path)
        if not bag.import_errors and elapsed > policy["parse_budget_s"]:
            bag, again = _load(path)  # once more with the shared helpers imported: the file's own cost
            elapsed = min(elapsed, again)
        dags = sorted(bag.dags.values(), key=lambda d: d.dag_id)
        _check_import_errors(bag, path, source, policy, report)
        _check_bag(request, dags, elapsed, policy, report, has_errors=bool(bag.import_errors))
        for dag in dags:
            _check_dag(dag, source, policy, report)
    tasks = sum(len(d.tasks) for d in dags)
    report.notes.append(
        f"{relative}: {len(dags)} DAG(s) {[d.dag_id for d in dags]}, {tasks} task(s), "
        f"top-level parse {elapsed:.3f} s (budget {policy['parse_budget_s']:g} s)"
    )
    for warning in bag.captured_warnings.get(str(path), ()):
        report.notes.append(f"Airflow warning: {warning}")
    text = output.getvalue().replace(str(root) + os.sep, "")
    names = ", ".join(repr(d.dag_id) for d in dags)
    counted = f"{tasks} task" + ("" if tasks == 1 else "s")
    return report.outcome(f"{relative}: DAG {names} loads in the DagBag ({counted}, parse {elapsed:.2f} s)", text)


def check_dags(requests: list[dict[str, Any]], ctx: HandlerContext) -> list[dict[str, Any]]:
    """One DagBag per DAG file, in this process; one outcome per request, in order.

    A request: ``{"file": "dags/x/y.py", "dags_folder": "dags", "other_dag_ids": {"id": ["dags/z.py"]},
    "policy": {...}}`` (paths relative to the workspace root; policy keys as in ``DEFAULT_POLICY``).
    The DAGs folder's own packages (``common``) are imported once per call and per folder.
    """
    root = Path(ctx.root).resolve()
    home = _airflow_home(Path(ctx.scratch).resolve())
    by_folder: dict[str, list[int]] = {}
    for index, request in enumerate(requests):
        by_folder.setdefault(request.get("dags_folder") or "dags", []).append(index)
    results: dict[int, dict[str, Any]] = {}
    for folder, indexes in by_folder.items():
        dags_folder = (root / folder).resolve()
        with airflow_environment(home, dags_folder), _isolated_modules(dags_folder):
            for index in indexes:
                request = requests[index]
                timeout = dict(request.get("policy") or {}).get("import_timeout_s", DEFAULT_POLICY["import_timeout_s"])
                try:
                    with _patched_environ({"AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": str(float(timeout))}):
                        results[index] = _check_file(request, root)
                except Exception as exc:  # a crash on one file must not hide the others' outcomes
                    results[index] = {
                        "status": "failed",
                        "summary": f"{request.get('file')}: the DagBag check crashed: {type(exc).__name__}: {exc}",
                        "log": traceback.format_exc(),
                        "artifacts": {},
                    }
    return [results[i] for i in range(len(requests))]
