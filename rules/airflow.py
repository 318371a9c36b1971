"""``airflow_dag``: one target per DAG file, with edges read from the DAG's helper calls.

A DAG builds its tasks through the helpers in ``dags/common/`` with literal arguments, e.g.
``dbt_task(select="fct_payments")``; ``[rules.airflow.helpers]`` maps each helper keyword to the
symbol it names (default below). The digest separates the schedule ("DAG schedule"), the
documentation (metadata) and the rest of the code ("DAG code").
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from graphbuild import Analyzer, Digest, Field, Origin, Requirement, RuleContext, Target, TargetType
from graphbuild.buildfiles import Declaration
from graphbuild.errors import RuleError
from graphbuild.ownership import Proposal
from graphbuild.values import FrozenDict, thaw
from rules.digests.python import PYTHON, import_requirements, normalized_dump, strip_docstrings
from rules.digests.structured import JSON, YAML
from rules.python import python_provides, source_roots

__all__ = ["rule", "analyze_dag"]

DEFAULT_HELPERS = {
    "dbt_task": {"select": "dbt:node:"},
    "spark_task": {"job": "spark:job:"},
    "topic_sensor": {"topic": "topic:"},
}
_DAG_CALLS = frozenset({"DAG", "dag"})
_SCHEDULE_KEYS = ("schedule", "schedule_interval", "timetable")
_DOC_KEYS = ("description", "doc_md", "tags")
_CONFIG_SUFFIXES = {".yaml": YAML, ".yml": YAML, ".json": JSON}
_IGNORE_FILE = ".airflowignore"


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
    target_types = (
        TargetType(
            "airflow_dags",
            fields=(Field("sources", tuple, ("*.py",), "Globs of DAG files; one airflow_dag target per file."),),
            help="Airflow DAG files, one target per file, named after the file's stem.",
        ),
    )

    def _analyzer(self, ctx: RuleContext) -> Analyzer:
        helpers = thaw(ctx.rule_settings.get("helpers", DEFAULT_HELPERS))
        key = hashlib.sha256(json.dumps(helpers, sort_keys=True).encode()).hexdigest()[:12]
        return Analyzer(f"airflow-dag-{key}", "2", partial(analyze_dag, helpers=helpers))

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
