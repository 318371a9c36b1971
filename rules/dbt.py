"""``dbt_project``: one dbt project, expanded without running dbt.

Targets: ``dbt_model`` per model, ``dbt_seed`` per seed, ``dbt_source`` per source table
(``lake.payments_clean``), ``dbt_macro`` per macro file (``macros.money``) and ``dbt_project``
(dbt_project.yml, profiles.yml) on which every node depends. Edges come from ``ref()``,
``source()`` and macro calls read from the SQL; a source table requires the ``table:`` a Spark job
writes. A model's digest separates the SQL body (normalised by sqlglot), its config, its columns
(from the SQL's projection and the YAML: types, constraints, tests) and its unit and data tests
from its descriptions (metadata).

Checks: every model, seed, source table and macro file has one action, ``dbt_build``, and the project
target ``dbt_parse``; all of one project share the batch key ``dbt:<project folder>``, so one call of
``rules.checks.dbt:check_dbt`` in the ``dbt`` worker pool parses the project once and runs one
``dbt build`` of everything selected (see that module for what each target answers for). Settings
under ``[rules.dbt]``: ``target`` (profile target, default ``dev``, the embedded DuckDB),
``profiles_dir`` (relative to the project, default ``.``), ``threads`` (default: the profile's),
``adapter`` (the adapter's distribution for the cache key, default ``dbt-duckdb``) and ``timeout_s``
(per action, default 600).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphbuild import Analyzer, Digest, Field, Origin, Requirement, RuleContext, Target, TargetType
from graphbuild.buildfiles import Declaration
from graphbuild.errors import RuleError
from graphbuild.run.action import Action
from graphbuild.values import FrozenDict
from rules.digests.sql import sql_analyzer
from rules.digests.structured import YAML

__all__ = ["rule"]

_DOC_KEYS = ("description", "docs", "meta", "tags", "label")
# dbt-duckdb reads these from `meta` to locate data: behaviour, not documentation
_BEHAVIOUR_META = ("external_location", "plugin", "format")
_PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "packages.yml", "dependencies.yml", "selectors.yml")
_MACRO_DEF = re.compile(r"\{%-?\s*(macro|test|materialization)\s+([A-Za-z_][A-Za-z0-9_]*)")
_VAR_CALL = re.compile(r"""\bvar\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]""")
_VARS = Analyzer("dbt-vars", "1", lambda data: sorted(set(_VAR_CALL.findall(data.decode("utf-8", "replace")))))
# dbt_project.yml sections whose parts apply to some nodes only: each node's digest takes its own part
# (the vars it reads, the folder configs on its path), so a change there affects only those nodes.
_PER_NODE_SECTIONS = ("vars", "models", "seeds", "data_tests", "tests")
_TEST_KEYS = ("data_tests", "tests")


def _split_docs(entry: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a YAML entry into behaviour and documentation (descriptions, meta, tags, docs)."""
    data, docs = {}, {}
    for key, value in entry.items():
        if key == "meta" and isinstance(value, Mapping):
            data.update({f"meta.{k}": v for k, v in value.items() if k in _BEHAVIOUR_META})
            docs[key] = {k: v for k, v in value.items() if k not in _BEHAVIOUR_META}
        elif key == "config" and isinstance(value, Mapping) and isinstance(value.get("meta"), str):
            data[key] = dict(value)  # a Jinja-templated meta (e.g. external_location per target) is behaviour
        elif key in _DOC_KEYS:
            docs[key] = value
        elif key == "config" and isinstance(value, Mapping):
            data[key] = {k: v for k, v in value.items() if k not in _DOC_KEYS}
            docs.update({f"config.{k}": v for k, v in value.items() if k in _DOC_KEYS})
        else:
            data[key] = value
    return data, docs


def _macro_definitions(data: bytes) -> list[str]:
    """Names a macro file defines; a generic ``{% test x %}`` is the macro ``test_x``, as dbt names it."""
    text = data.decode("utf-8", "replace")
    return sorted({f"test_{n}" if kind == "test" else n for kind, n in _MACRO_DEF.findall(text)})


_MACRO_DEFS = Analyzer("dbt-macro-definitions", "1", _macro_definitions)
_REF_TEXT = re.compile(r"""ref\(\s*['"]([^'"]+)['"]\s*\)""")


def _yaml_test_requirements(path: str, entry: Mapping[str, Any]) -> list[Requirement]:
    """Check-only edges from a model's YAML tests: ``relationships`` to other models, generic test macros.

    A test reads those targets; the model's data does not, so their changes re-run the model's tests
    without flowing on to the model's dependents.
    """
    found: list[Requirement] = []
    columns = entry.get("columns") or []
    tests = [*(entry.get("data_tests") or entry.get("tests") or [])]
    for column in columns:
        if isinstance(column, Mapping):
            tests += [*(column.get("data_tests") or column.get("tests") or [])]
    for test in tests:
        if isinstance(test, str):
            found.append(Requirement(f"dbt:macro:test_{test}", Origin(path, None, f"data test {test}"), True, True))
            continue
        if not isinstance(test, Mapping):
            continue
        for test_name, config in test.items():
            found.append(Requirement(f"dbt:macro:test_{test_name}", Origin(path, None, f"data test {test_name}"), True, True))
            text = str(config.get("arguments", config).get("to", "")) if isinstance(config, Mapping) else ""
            for ref in _REF_TEXT.findall(text):
                found.append(Requirement(f"dbt:node:{ref}", Origin(path, None, f"{test_name} to ref('{ref}')"), is_check_only=True))
    return found


def _folder_config(project: Mapping[str, Any], section: str, path: str) -> dict[str, Any]:
    """The ``+config`` of dbt_project.yml's ``models:``/``seeds:`` that applies to a node at ``path``.

    >>> _folder_config({"name": "p", "models": {"p": {"+tags": ["a"], "marts": {"+materialized": "table"}}}},
    ...                "models", "models/marts/fct.sql")
    {'tags': ['a'], 'materialized': 'table'}
    """
    level = (project.get(section) or {}).get(project.get("name")) if isinstance(project.get(section), Mapping) else None
    config: dict[str, Any] = {}
    for folder in [*path.split("/")[1:-1], None]:
        if not isinstance(level, Mapping):
            break
        for key, value in level.items():
            if str(key).startswith("+") or not isinstance(value, Mapping):
                config[str(key).removeprefix("+")] = value
        level = level.get(folder) if folder is not None else None
    return config


def _own_file(target: Target) -> str:
    """The model, seed or macro file itself (its YAML and tests are sources too)."""
    return f"{target.attributes['root']}/{target.attributes['path']}"


@dataclass
class _Project:
    """What the YAML property files of a project say, by node name."""

    models: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    seeds: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    sources: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    unit_tests: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    macro_docs: dict[str, dict[str, Any]] = field(default_factory=dict)


class DbtRule:
    name = "dbt"
    version = "1"
    target_types = (
        TargetType(
            "dbt_project",
            fields=(
                Field("project_dir", str, ".", "The folder holding dbt_project.yml, relative to the BUILD file."),
                Field("sample_data", str, "sample_data", "Folder of sample rows: <folder>/<source>/<table>.csv."),
            ),
            help="A dbt project: one target per model, seed, source table and macro file.",
        ),
    )

    def _sql(self, ctx: RuleContext):
        """The SQL analyzer for ``[rules.dbt] dialect`` (default: duckdb, the embedded warehouse)."""
        return sql_analyzer(ctx.rule_settings.get("dialect", "duckdb"))

    def expand(self, declaration: Declaration, values: FrozenDict, ctx: RuleContext) -> Iterable[Target]:
        root = posixpath.normpath(posixpath.join(declaration.package, values["project_dir"]))
        project_file = f"{root}/dbt_project.yml"
        if ctx.snapshot.blob_id(project_file) is None:
            raise RuleError(f"{project_file} does not exist", file=declaration.file, line=declaration.line,
                            fix="point project_dir at the folder holding dbt_project.yml")
        config = ctx.snapshot.facts(project_file, YAML)
        if config["error"]:
            raise RuleError(f"invalid YAML: {config['error']}", file=project_file, fix="fix the YAML")
        settings = config["value"] or {}
        paths = {
            key: [posixpath.normpath(f"{root}/{p}") for p in settings.get(key, [default])]
            for key, default in (("model-paths", "models"), ("seed-paths", "seeds"), ("macro-paths", "macros"), ("test-paths", "tests"))
        }
        sql = self._sql(ctx)
        project = self._read_properties(ctx, [*paths["model-paths"], *paths["seed-paths"], *paths["macro-paths"]])
        base = {"rule": self.name}
        project_files = [f"{root}/{name}" for name in _PROJECT_FILES if ctx.snapshot.blob_id(f"{root}/{name}")]
        docs_files = [p for d in paths["model-paths"] for p in ctx.snapshot.glob(["**/*.md"], under=d)]
        yield ctx.target(declaration, values, **base, kind="dbt_project", name="dbt_project",
                         sources=[*project_files, *docs_files], provides={"dbt:project"}, attributes={"root": root})
        needs_project = Requirement("dbt:project", Origin(project_file, None, "dbt project settings"))

        singular: dict[str, list[str]] = {}
        singular_reads: dict[str, list[Requirement]] = {}  # check-only: the other models a singular test refs
        for folder in paths["test-paths"]:
            for path in ctx.snapshot.glob(["**/*.sql"], under=folder):
                refs = ctx.snapshot.facts(path, sql)["refs"]
                for name, _line in refs:
                    singular.setdefault(name, []).append(path)
                    singular_reads.setdefault(name, []).extend(
                        Requirement(f"dbt:node:{other}", Origin(path, line, f"singular test ref('{other}')"), is_check_only=True)
                        for other, line in refs
                        if other != name
                    )

        for folder in paths["model-paths"]:
            for path in ctx.snapshot.glob(["**/*.sql"], under=folder):
                name = path.rpartition("/")[2][:-4]
                facts = ctx.snapshot.facts(path, sql)
                yml = [project.models[name][0]] if name in project.models else []
                yml += [p for p, _ in project.unit_tests.get(name, [])]
                requires = [needs_project, *self._sql_requirements(path, facts), *singular_reads.get(name, [])]
                if name in project.models:
                    requires += _yaml_test_requirements(*project.models[name])
                yield ctx.target(declaration, values, **base, kind="dbt_model", name=name,
                                 sources=[path, *yml, *singular.get(name, []), project_file],
                                 attributes={"root": root, "path": path.removeprefix(root + "/")},
                                 provides={f"dbt:node:{name}"}, requires=requires)

        for folder in paths["seed-paths"]:
            for path in ctx.snapshot.glob(["**/*.csv"], under=folder):
                name = path.rpartition("/")[2][:-4]
                yml = [project.seeds[name][0]] if name in project.seeds else []
                yield ctx.target(declaration, values, **base, kind="dbt_seed", name=name, sources=[path, *yml, project_file],
                                 attributes={"root": root, "path": path.removeprefix(root + "/")},
                                 provides={f"dbt:node:{name}"}, requires=[needs_project])

        sample_root = posixpath.normpath(f"{root}/{values['sample_data']}")
        for key, (yml, source, table) in sorted(project.sources.items()):
            sample = f"{sample_root}/{source['name']}/{table['name']}.csv"
            physical = f"{source.get('schema', source['name'])}.{table.get('identifier', table['name'])}"
            yield ctx.target(
                declaration, values, **base, kind="dbt_source", name=key,
                sources=[yml, *([sample] if ctx.snapshot.blob_id(sample) else [])],
                provides={f"dbt:source:{key}"},
                requires=[Requirement(f"table:{physical}", Origin(yml, None, f"source('{source['name']}', '{table['name']}')"), True)],
            )

        for folder in paths["macro-paths"]:
            for path in ctx.snapshot.glob(["**/*.sql"], under=folder):
                text_facts = ctx.snapshot.facts(path, sql)
                defined = set(ctx.snapshot.facts(path, _MACRO_DEFS))
                requires = [r for r in self._sql_requirements(path, text_facts) if r.symbol.removeprefix("dbt:macro:") not in defined]
                yield ctx.target(declaration, values, **base, kind="dbt_macro",
                                 attributes={"root": root, "path": path.removeprefix(root + "/")},
                                 name="macros." + path.removeprefix(folder + "/")[:-4].replace("/", "."),
                                 sources=[path, project_file], provides={f"dbt:macro:{m}" for m in defined}, requires=requires)

    def _sql_requirements(self, path: str, facts: Mapping[str, Any]) -> list[Requirement]:
        out = [Requirement(f"dbt:node:{name}", Origin(path, line, f"ref('{name}')")) for name, line in facts["refs"]]
        out += [Requirement(f"dbt:source:{s}.{t}", Origin(path, line, f"source('{s}', '{t}')")) for s, t, line in facts["sources"]]
        out += [Requirement(f"dbt:macro:{m}", Origin(path, None, f"{m}()"), True) for m in facts["macros"]]
        return out

    def _read_properties(self, ctx: RuleContext, folders: list[str]) -> _Project:
        project = _Project()
        for folder in folders:
            for path in ctx.snapshot.glob(["**/*.yml", "**/*.yaml"], under=folder):
                facts = ctx.snapshot.facts(path, YAML)
                if facts["error"]:
                    raise RuleError(f"invalid YAML: {facts['error']}", file=path, fix="fix the YAML")
                content = facts["value"] or {}
                if not isinstance(content, Mapping):
                    continue
                for entry in content.get("models") or []:
                    project.models[entry["name"]] = (path, entry)
                for entry in content.get("seeds") or []:
                    project.seeds[entry["name"]] = (path, entry)
                for source in content.get("sources") or []:
                    for table in source.get("tables") or []:
                        project.sources[f"{source['name']}.{table['name']}"] = (path, source, table)
                for test in content.get("unit_tests") or []:
                    project.unit_tests.setdefault(test.get("model", ""), []).append((path, test))
                for entry in content.get("macros") or []:
                    project.macro_docs[entry["name"]] = entry
        return project

    def digest(self, target: Target, ctx: RuleContext) -> Digest:
        if target.kind == "dbt_project":
            data = {p.rpartition("/")[2]: ctx.snapshot.facts(p, YAML)["value"] for p in target.sources if not p.endswith(".md")}
            docs = {p: ctx.snapshot.blob_id(p) for p in target.sources if p.endswith(".md")}
            project = dict(data.pop("dbt_project.yml", None) or {})
            per_node = {key: project.pop(key) for key in _PER_NODE_SECTIONS if key in project}
            return Digest.of({"project setting": {**data, "dbt_project.yml": project}}, {"docs": docs}, {"per-node setting": per_node})
        sql = self._sql(ctx)
        yml_entries = self._entries(target, ctx)
        if target.kind == "dbt_model":
            return self._model_digest(target, ctx, sql, yml_entries)
        if target.kind == "dbt_seed":
            entry_data, entry_docs = _split_docs(yml_entries.get("seed", {}))
            config = _folder_config(self._project_settings(target, ctx), "seeds", target.attributes["path"])
            return Digest.of(
                {"seed rows": ctx.snapshot.blob_id(_own_file(target)), "seed config": entry_data, "project config": config},
                entry_docs,
            )
        if target.kind == "dbt_source":
            source, table = yml_entries.get("source", ({}, {}))
            table_data, table_docs = _split_docs(table)
            source_data, source_docs = _split_docs({k: v for k, v in source.items() if k != "tables"})
            columns, column_docs = self._columns(table.get("columns") or [])
            table_data.pop("columns", None)
            samples = {p.rpartition("/")[2]: ctx.snapshot.blob_id(p) for p in target.sources if p.endswith(".csv")}
            return Digest.of(
                {"source": source_data, "source table": table_data, "column": columns, "sample rows": samples},
                {"source docs": source_docs, "table docs": table_docs, "column docs": column_docs},
            )
        facts = ctx.snapshot.facts(_own_file(target), sql)
        return Digest.of({"macro body": facts["body"], "var": self._vars(target, ctx, [_own_file(target)])})

    def _project_settings(self, target: Target, ctx: RuleContext) -> Mapping[str, Any]:
        value = ctx.snapshot.facts(f"{target.attributes['root']}/dbt_project.yml", YAML)["value"]
        return value if isinstance(value, Mapping) else {}

    def _vars(self, target: Target, ctx: RuleContext, paths: list[str]) -> dict[str, Any]:
        """The values of the project vars these files read (``var('name')``); an unset var reads as None."""
        defined = self._project_settings(target, ctx).get("vars") or {}
        names = sorted({n for p in paths for n in ctx.snapshot.facts(p, _VARS)})
        return {name: defined.get(name) if isinstance(defined, Mapping) else None for name in names}

    def _entries(self, target: Target, ctx: RuleContext) -> dict[str, Any]:
        """The YAML entries that describe this target, found again in its own YAML sources."""
        name = target.label.name
        out: dict[str, Any] = {"unit tests": {}}
        for path in target.sources:
            if not path.endswith((".yml", ".yaml")) or path.endswith("/dbt_project.yml") or path == "dbt_project.yml":
                continue
            content = ctx.snapshot.facts(path, YAML)["value"] or {}
            for entry in content.get("models") or []:
                if entry.get("name") == name:
                    out["model"] = entry
            for entry in content.get("seeds") or []:
                if entry.get("name") == name:
                    out["seed"] = entry
            for source in content.get("sources") or []:
                for table in source.get("tables") or []:
                    if f"{source['name']}.{table['name']}" == name:
                        out["source"] = (source, table)
            for test in content.get("unit_tests") or []:
                if test.get("model") == name:
                    out["unit tests"][test.get("name", "")] = test
        return out

    def _columns(self, columns: list[Mapping[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
        data, docs = {}, {}
        for column in columns:
            column_data, column_docs = _split_docs(column)
            name = str(column_data.pop("name", ""))
            data[name] = column_data
            if column_docs:
                docs[name] = column_docs
        return data, docs

    def _model_digest(self, target: Target, ctx: RuleContext, sql, entries: dict[str, Any]) -> Digest:
        model_sql = _own_file(target)
        facts = ctx.snapshot.facts(model_sql, sql)
        entry_data, entry_docs = _split_docs(entries.get("model", {}))
        yml_columns, column_docs = self._columns(entry_data.pop("columns", None) or [])
        columns: dict[str, Any] = {}
        for name, expression in (facts["columns"] or {}).items():
            columns[name] = {"expression": expression}
        for name, spec in yml_columns.items():
            columns[name] = {**columns.get(name, {}), **spec}
        config = {**(entry_data.pop("config", None) or {}), **facts["config"]}
        docs = {k: config.pop(k) for k in list(config) if k in _DOC_KEYS}
        unit_tests = {}
        for name, test in entries["unit tests"].items():
            test_data, test_docs = _split_docs(test)
            unit_tests[name] = test_data
            if test_docs:
                docs[f"unit test {name}"] = test_docs
        singular = {p: ctx.snapshot.facts(p, sql)["body"] for p in target.sources if p.endswith(".sql") and p != model_sql}
        column_tests = {}
        for name, spec in columns.items():
            found = {k: spec.pop(k) for k in _TEST_KEYS if k in spec}
            if found:
                column_tests[name] = found
        model_tests = {k: entry_data.pop(k) for k in _TEST_KEYS if k in entry_data}
        project = self._project_settings(target, ctx)
        data = {
            "SQL body": facts["body"],
            "config": config,
            "column": columns,
            "model property": entry_data,
            "project config": _folder_config(project, "models", target.attributes["path"]),
            "var": self._vars(target, ctx, [model_sql]),
        }
        # what the model's checks assert, not what it computes: re-runs its checks, never its dependents'
        tests = {"model test": model_tests, "column test": column_tests, "unit test": unit_tests, "singular test": singular}
        return Digest.of(data, {"description": entry_docs, "column description": column_docs, **docs}, tests)

    def actions(self, target: Target, ctx: RuleContext) -> Iterable[Action]:
        """One ``dbt_build`` (``dbt_parse`` for the project) per target, batched per project."""
        root = self._project_root(target, ctx)
        if root is None:
            return ()
        if target.kind == "dbt_project":
            file, name = "dbt_project.yml", "dbt_parse"
        elif target.kind == "dbt_source":
            file, name = target.sources[0].removeprefix(root + "/"), "dbt_build"
        else:
            file, name = str(target.attributes["path"]), "dbt_build"
        settings = ctx.rule_settings
        request: dict[str, Any] = {
            "project": root,
            "kind": target.kind,
            "node": target.label.name,
            "file": file,
            "files": [p.removeprefix(root + "/") for p in target.sources],
            "target": str(settings.get("target", "dev")),
            "profiles_dir": str(settings.get("profiles_dir", ".")),
        }
        if settings.get("threads") is not None:
            request["threads"] = int(settings["threads"])
        adapter = str(settings.get("adapter", "dbt-duckdb"))
        toolchain = ("python", "dist:dbt-core", f"dist:{adapter}", *(("dist:duckdb",) if adapter == "dbt-duckdb" else ()))
        return (
            Action.of(
                target.label, name, "rules.checks.dbt:check_dbt", request,
                pool="dbt", timeout_s=float(settings.get("timeout_s", 600)), toolchain=toolchain, batch=f"dbt:{root}",
            ),
        )

    def deploy_steps(self, target: Target, ctx: Any) -> Iterable[Any]:
        """One step per model and seed: build its version (or reuse the previous one) and swap its view.

        Sources, macros and the project have no step of their own: they are inputs of the models'
        fingerprints. ``ctx`` is a ``DeployPlanContext``; the change classification and the request are
        ``rules.deploy.dbt_classify`` and ``rules.deploy.dbt_local``. Every step is pointer-revertible:
        a version is built into its own physical schema and never changed, so a rollback re-points the
        view at the earlier one, incremental models included (the earlier table catches up from its own
        high-water mark on its next run).
        """
        if target.kind not in ("dbt_model", "dbt_seed"):
            return ()
        from rules.deploy.dbt_local import plan_step

        return (plan_step(target, ctx),)

    def _project_root(self, target: Target, ctx: RuleContext) -> str | None:
        """The project folder: an attribute of most targets, the nearest dbt_project.yml for a source."""
        if "root" in target.attributes:
            return str(target.attributes["root"])
        folder = posixpath.dirname(target.sources[0]) if target.sources else ""
        while folder:
            if ctx.snapshot.blob_id(f"{folder}/dbt_project.yml") is not None:
                return folder
            folder = posixpath.dirname(folder)
        return "." if ctx.snapshot.blob_id("dbt_project.yml") is not None else None


rule = DbtRule()
