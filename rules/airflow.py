"""``airflow_dag``: one target per DAG file, with edges read from the DAG's helper calls.

A DAG builds its tasks through the helpers in ``dags/common/`` with literal arguments, e.g.
``dbt_task(select="fct_payments")``; ``[rules.airflow.helpers]`` maps each helper keyword to the
symbol it names (default below). The digest separates the schedule ("DAG schedule"), the
documentation (metadata) and the rest of the code ("DAG code").

Each target has one action, ``dagbag``: the file loaded by Airflow's own DagBag in the ``airflow``
worker pool (``rules.checks.airflow:check_dags``, batched), checked against ``[rules.airflow.policy]``
(defaults in ``rules.checks.airflow.DEFAULT_POLICY``). The DAGs folder is ``[rules.airflow]
dags_folder`` (default ``dags``), else the outermost folder holding an ``.airflowignore``.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import re
import weakref
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from pydantic import Field as Setting
from pydantic import create_model

from graphbuild import Analyzer, Digest, Field, Origin, Requirement, RuleContext, RuleSettings, Target, TargetType
from graphbuild.buildfiles import Declaration
from graphbuild.errors import RuleError
from graphbuild.labels import did_you_mean
from graphbuild.ownership import Proposal
from graphbuild.rule import CHECKS_ONLY
from graphbuild.run.action import Action
from graphbuild.sources import glob_regex
from graphbuild.values import FrozenDict, freeze, thaw
from rules.checks.airflow import DEFAULT_POLICY, LEVELS
from rules.digests.python import PYTHON, import_requirements, normalized_dump, strip_docstrings
from rules.digests.structured import JSON, YAML
from rules.python import python_provides, source_roots

__all__ = ["AirflowSettings", "rule", "analyze_dag", "analyze_dag_ids"]

DEFAULT_HELPERS = {
    "dbt_task": {"select": "dbt:node:"},
    "spark_task": {"job": "spark:job:"},
    "topic_sensor": {"topic": "topic:"},
}


# [rules.airflow.policy]: one key per policy of DEFAULT_POLICY (the one list: a new policy needs no change here)
AirflowPolicy = create_model(
    "AirflowPolicy", __base__=RuleSettings, **{key: (Any, default) for key, default in DEFAULT_POLICY.items()}
)


class AirflowSettings(RuleSettings):
    """``[rules.airflow]``; the rule reads ``[rules.python] source_roots`` too (a DAG's imports)."""

    helpers: dict[str, dict[str, str]] = Setting(
        default=DEFAULT_HELPERS,
        description="DAG helper calls whose literal arguments are edges: helper = {keyword = \"symbol prefix\"}.",
    )
    policy: AirflowPolicy = Setting(  # type: ignore[valid-type]
        default_factory=AirflowPolicy,
        json_schema_extra=CHECKS_ONLY,
        description="The DagBag check's policies, [rules.airflow.policy]: their keys and defaults are "
        "rules.checks.airflow.DEFAULT_POLICY.",
    )
    dags_folder: str = Setting(
        default="dags",
        description="Airflow's DAGs folder; a DAG outside it belongs to the outermost folder with an .airflowignore.",
    )


_DAG_CALLS = frozenset({"DAG", "dag"})
_SCHEDULE_KEYS = ("schedule", "schedule_interval", "timetable")
_DOC_KEYS = ("description", "doc_md", "tags")
_CONFIG_SUFFIXES = {".yaml": YAML, ".yml": YAML, ".json": JSON}
_IGNORE_FILE = ".airflowignore"
_TOOLCHAIN = (
    "python",
    "dist:apache-airflow",
    "dist:apache-airflow-core",
    "dist:apache-airflow-task-sdk",
    "dist:apache-airflow-providers-standard",
)


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def analyze_dag(data: bytes, helpers: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """Helper-call edges, the schedule, the docs and the remaining code digest of a DAG file."""
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError, RecursionError) as exc:
        return {"edges": [], "schedule": None, "docs": {}, "code": hashlib.sha256(data).hexdigest(), "is_dag": False,
                "error": f"line {getattr(exc, 'lineno', None)}: {exc}"}
    edges: list[list[Any]] = []
    schedule: dict[str, str] = {}
    docs: dict[str, Any] = {}
    is_dag = False
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        if name in helpers:
            for keyword in node.keywords:
                prefix = helpers[name].get(keyword.arg or "")
                if prefix is None:
                    continue
                if isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
                    for word in re.split(r"[\s,]+", keyword.value.value.strip()):
                        if word.strip("+"):
                            edges.append([prefix + word.strip("+"), node.lineno, f"{name}({keyword.arg}={keyword.value.value!r})"])
                else:
                    edges.append([None, node.lineno, f"{name}({keyword.arg}=...) is not a string literal"])
        elif name in _DAG_CALLS:
            is_dag = True
            kept = []
            for keyword in node.keywords:
                if keyword.arg in _SCHEDULE_KEYS:
                    schedule[keyword.arg] = ast.unparse(keyword.value)
                elif keyword.arg in _DOC_KEYS:
                    try:
                        docs[keyword.arg] = ast.literal_eval(keyword.value)
                    except (ValueError, SyntaxError, TypeError, RecursionError):
                        docs[keyword.arg] = ast.unparse(keyword.value)
                else:
                    kept.append(keyword)
            node.keywords = kept
    docstring = ast.get_docstring(tree)
    if docstring:
        docs["module docstring"] = docstring  # often the DAG's doc_md=__doc__
    code = hashlib.sha256(normalized_dump(strip_docstrings(tree)).encode()).hexdigest()
    return {"edges": edges, "schedule": schedule, "docs": docs, "code": code, "is_dag": is_dag, "error": None}


def _literal_str(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _decorator_dag_id(function: ast.FunctionDef | ast.AsyncFunctionDef, decorator: ast.expr) -> tuple[bool, str | None]:
    """(whether the decorator makes a DAG, its dag_id or None when not literal).

    ``@dag`` and ``@dag(dag_id=...)`` name the DAG after the function; Airflow 3's ``@asset(...)``
    makes a DAG named ``dag_id=``, else after the asset (``name=``, else the function), and
    ``@asset.multi(...)`` one named ``dag_id=``, else after the function.
    """
    call = decorator if isinstance(decorator, ast.Call) else None
    target = call.func if call else decorator
    name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", None)
    if name == "multi" and isinstance(target, ast.Attribute):
        inner = target.value
        name = "asset.multi" if (getattr(inner, "id", None) or getattr(inner, "attr", None)) == "asset" else None
    if name not in ("dag", "asset", "asset.multi") or (call is None and name != "dag"):
        return False, None
    keywords = {k.arg: k.value for k in call.keywords} if call else {}
    for key in ("dag_id", "name") if name == "asset" else ("dag_id",):
        if key in keywords:
            return True, _literal_str(keywords[key])
    return True, function.name


def analyze_dag_ids(data: bytes) -> dict[str, Any]:
    """The dag_ids a file defines, read statically: ``[[dag_id or None, line], ...]`` (None: not a literal).

    ``DAG(dag_id="x")`` or ``DAG("x")``; ``@dag(dag_id="x")``, or a bare ``@dag`` taking the function's name;
    ``@asset(schedule=...)`` (its ``dag_id``, else its ``name``, else the function's) and ``@asset.multi``.
    """
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError, RecursionError):
        return {"ids": []}
    ids: list[list[Any]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) == "DAG":
            given = next((k.value for k in node.keywords if k.arg == "dag_id"), node.args[0] if node.args else None)
            ids.append([_literal_str(given), node.lineno])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                is_dag, dag_id = _decorator_dag_id(node, decorator)
                if is_dag:
                    ids.append([dag_id, node.lineno])
    return {"ids": sorted(ids, key=lambda item: item[1])}


_DAG_IDS = Analyzer("airflow-dag-ids", "2", analyze_dag_ids)


@functools.lru_cache(maxsize=8)
def _dag_analyzer(helpers_setting: Any) -> Analyzer:
    """The DAG analyzer for a ``[rules.airflow.helpers]`` table (one per settings, not per DAG)."""
    helpers = thaw(helpers_setting)
    key = hashlib.sha256(json.dumps(helpers, sort_keys=True).encode()).hexdigest()[:12]
    return Analyzer(f"airflow-dag-{key}", "2", partial(analyze_dag, helpers=helpers))


def _is_ignored(path: str, ignore_files: Mapping[str, str]) -> bool:
    """Whether ``.airflowignore`` files (glob syntax, Airflow's default) keep the DAG processor off ``path``."""
    ignored = False
    for ignore_file, text in ignore_files.items():
        base = ignore_file.rpartition("/")[0]
        if base and not path.startswith(base + "/"):
            continue
        parts = path[len(base) :].lstrip("/").split("/")
        for raw in text.splitlines():
            pattern = raw.strip()
            if not pattern or pattern.startswith("#"):
                continue
            negated = pattern.startswith("!")
            pattern = pattern.lstrip("!")
            dir_only = pattern.endswith("/")
            pattern = pattern.rstrip("/")
            anchored = "/" in pattern
            regex = glob_regex(pattern.lstrip("/"))
            for depth in range(1, len(parts) + 1):
                if dir_only and depth == len(parts):
                    break
                subject = "/".join(parts[:depth]) if anchored else parts[depth - 1]
                if regex.match(subject):
                    ignored = not negated
                    break
    return ignored


def _airflowignores(path: str, ctx: RuleContext) -> list[str]:
    """The ``.airflowignore`` files of the DAG's folder and its parents: they decide what Airflow parses."""
    found = []
    folder = path.rpartition("/")[0]
    while True:
        candidate = f"{folder}/{_IGNORE_FILE}" if folder else _IGNORE_FILE
        if ctx.snapshot.blob_id(candidate):
            found.append(candidate)
        if not folder:
            return found
        folder = folder.rpartition("/")[0]


class AirflowRule:
    name = "airflow"
    version = "1"
    settings_model, settings_read = AirflowSettings, ("python",)
    target_types = (
        TargetType(
            "airflow_dags",
            fields=(Field("sources", tuple, ("*.py",), "Globs of DAG files; one airflow_dag target per file."),),
            help="Airflow DAG files, one target per file, named after the file's stem.",
        ),
    )

    def __init__(self) -> None:
        self._memo: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()  # snapshot -> dag ids

    def _analyzer(self, ctx: RuleContext) -> Analyzer:
        return _dag_analyzer(freeze(ctx.rule_settings.get("helpers", DEFAULT_HELPERS)))

    def expand(self, declaration: Declaration, values: FrozenDict, ctx: RuleContext) -> Iterable[Target]:
        roots = source_roots(ctx)
        analyzer = self._analyzer(ctx)
        for path in ctx.glob(declaration, "sources", values):
            if not path.endswith(".py"):
                continue
            stem = path.rpartition("/")[2][:-3]
            config = [path[:-3] + s for s in _CONFIG_SUFFIXES if ctx.snapshot.blob_id(path[:-3] + s)]
            config += _airflowignores(path, ctx)
            facts = ctx.snapshot.facts(path, analyzer)
            requires = import_requirements(path, ctx.snapshot.facts(path, PYTHON), roots)
            for symbol, line, how in facts["edges"]:
                if symbol is None:
                    raise RuleError(how, file=path, line=line, fix="pass a string literal so the edge can be inferred")
                requires.append(Requirement(symbol, Origin(path, line, how)))
            yield ctx.target(
                declaration,
                values,
                rule=self.name,
                kind="airflow_dag",
                name=stem,
                sources=(path, *config),
                provides=python_provides((path,), roots),
                requires=requires,
            )

    def digest(self, target: Target, ctx: RuleContext) -> Digest:
        analyzer = self._analyzer(ctx)
        dag_file = next(p for p in target.sources if p.endswith(".py"))
        facts = ctx.snapshot.facts(dag_file, analyzer)
        data: dict[str, Any] = {"DAG schedule": facts["schedule"], "DAG code": facts["code"]}
        for path in target.sources:
            suffix = "." + path.rpartition(".")[2]
            if suffix in _CONFIG_SUFFIXES:
                data["DAG config"] = ctx.snapshot.facts(path, _CONFIG_SUFFIXES[suffix])["value"]
            elif path.endswith(_IGNORE_FILE):
                data.setdefault("airflowignore", {})[path] = ctx.snapshot.blob_id(path)
        return Digest.of(data, {"DAG docs": facts["docs"]})

    def actions(self, target: Target, ctx: RuleContext) -> Iterable[Action]:
        """``dagbag``: the DAG file in Airflow's own DagBag, with the policies of ``[rules.airflow.policy]``."""
        if target.kind != "airflow_dag":
            return ()
        dag_file = next(p for p in target.sources if p.endswith(".py"))
        policy = self._policy(ctx)
        folder = self._dags_folder(dag_file, ctx)
        ids = self._dag_ids(folder, ctx)
        own = {i for i, _ in ctx.snapshot.facts(dag_file, _DAG_IDS)["ids"]} or {None}
        others: dict[str, list[str]] = {}
        if None in own:  # a dag_id not written literally: every other file's ids matter
            for path, names in ids.items():
                for name in names:
                    if path != dag_file and name is not None:
                        others.setdefault(name, []).append(path)
        else:
            by_id = self._files_by_dag_id(folder, ctx)
            for name in sorted(own):
                paths = [p for p in by_id.get(name, ()) if p != dag_file]
                if paths:
                    others[name] = paths
        request = {"file": dag_file, "dags_folder": folder, "other_dag_ids": others, "policy": policy}
        timeout = 2 * float(policy["import_timeout_s"]) + 30.0  # a re-parse when over the budget, and slack
        return (
            Action.of(
                target.label,
                "dagbag",
                "rules.checks.airflow:check_dags",
                request,
                pool="airflow",
                timeout_s=timeout,
                toolchain=_TOOLCHAIN,
                batch="airflow-dagbag",
            ),
        )

    def deploy_steps(self, target: Target, ctx: Any) -> Iterable[Any]:
        """``sync``: the DAG file and the helper modules it imports into the environment's DAGs folder.

        Handled in ``rules.deploy.<backend>``; ``ctx`` is a ``graphbuild.plan.definition.DeployPlanContext``.
        """
        if target.kind != "airflow_dag":
            return ()
        from rules.deploy.airflow_local import sync_step  # the deploy side is imported only when planning

        return (sync_step(target, ctx),)

    def _policy(self, ctx: RuleContext) -> dict[str, Any]:
        given = thaw(ctx.rule_settings.get("policy", {}))
        unknown = sorted(set(given) - set(DEFAULT_POLICY))
        if unknown:
            raise RuleError(
                f"[rules.airflow.policy] has no setting {unknown[0]!r}" + did_you_mean(unknown[0], DEFAULT_POLICY),
                fix="settings: " + ", ".join(sorted(DEFAULT_POLICY)),
            )
        policy = {**DEFAULT_POLICY, **given}
        for key in ("wall_clock", "top_level_variable"):
            if policy[key] not in LEVELS:
                raise RuleError(
                    f"[rules.airflow.policy] {key} = {policy[key]!r}", fix=f"use one of {', '.join(LEVELS)}"
                )
        if not isinstance(policy["require_owner"], bool):
            raise RuleError(
                f"[rules.airflow.policy] require_owner = {policy['require_owner']!r}",
                fix="use true (every task has a real owner) or false (no owner check)",
            )
        return policy

    def _dags_folder(self, dag_file: str, ctx: RuleContext) -> str:
        """The configured folder holding the file, else the outermost with an .airflowignore, else its own."""
        configured = str(ctx.rule_settings.get("dags_folder", "dags")).strip("/")
        if dag_file.startswith(configured + "/"):
            return configured
        ignores = _airflowignores(dag_file, ctx)
        if ignores:
            return ignores[-1].rpartition("/")[0]
        return dag_file.rpartition("/")[0]

    def _dag_ids(self, folder: str, ctx: RuleContext) -> dict[str, list[str | None]]:
        """Every DAG file of the folder that Airflow would parse -> the dag_ids it defines (memoized per snapshot)."""
        return self._folder(folder, ctx)[0]

    def _files_by_dag_id(self, folder: str, ctx: RuleContext) -> dict[str, list[str]]:
        """dag_id -> the files of the folder defining it (one index per folder and snapshot, not per DAG)."""
        return self._folder(folder, ctx)[1]

    def _folder(self, folder: str, ctx: RuleContext) -> tuple[dict[str, list[str | None]], dict[str, list[str]]]:
        try:
            memo = self._memo.setdefault(ctx.snapshot, {})
        except TypeError:  # a snapshot that cannot be weakly referenced: no memo
            memo = {}
        if folder not in memo:
            paths = ctx.snapshot.glob(("**/*.py",), under=folder)
            ignore_files = ctx.snapshot.glob(("**/" + _IGNORE_FILE,), under=folder)
            ignores = {p: ctx.snapshot.read(p).decode("utf-8", "replace") for p in ignore_files}
            found: dict[str, list[str | None]] = {}
            index: dict[str, list[str]] = {}
            for path in paths:
                names = [i for i, _ in ctx.snapshot.facts(path, _DAG_IDS)["ids"]]
                if names and not _is_ignored(path, ignores):
                    found[path] = names
                    for name in names:
                        if name is not None:
                            index.setdefault(name, []).append(path)
            memo[folder] = (found, index)
        return memo[folder]

    def tailor(self, paths: tuple[str, ...], ctx: RuleContext) -> Iterable[Proposal]:
        """Folders holding unowned files that define a DAG get an ``airflow_dags()`` entry."""
        analyzer = self._analyzer(ctx)
        folders: dict[str, list[str]] = {}
        for path in paths:
            if path.endswith(".py") and ctx.snapshot.facts(path, analyzer)["is_dag"]:
                folders.setdefault(path.rpartition("/")[0], []).append(path)
        for folder, files in sorted(folders.items()):
            yield Proposal(folder, 'airflow_dags(sources=["*.py"])', tuple(files))


rule = AirflowRule()
