"""``dbt_project``: one dbt project, expanded without running dbt.

Targets: ``dbt_model`` per model, ``dbt_seed`` per seed, ``dbt_source`` per source table
(``lake.payments_clean``), ``dbt_macro`` per macro file (``macros.money``), one target per
semantic-layer entry (``semantic_models.payments``, ``metrics.payment_volume``,
``saved_queries.x``: ``rules.dbt_semantic``) and ``dbt_project`` (dbt_project.yml, profiles.yml) on
which every node depends. Edges come from ``ref()``, ``source()`` and macro calls read from the SQL;
a source table requires the ``table:`` a Spark job writes. A model's digest separates the SQL body
(normalised by sqlglot), its config, its columns (from the SQL's projection and the YAML: types,
constraints) and its unit and data tests (private: they re-run its checks only) from its
descriptions, tags and docs, wherever they are set (metadata: ``rules.dbt_config``). A node dbt
disables (``enabled: false``, also through a var) stays a target, with ``enabled: False`` among its
attributes, and has no check and no deploy step.

Checks: every model, seed, source table and macro file has one action, ``dbt_build``, and the project
target ``dbt_parse``; all of one project share the batch key ``dbt:<project folder>``, so one call of
``rules.checks.dbt:check_dbt`` in the ``dbt`` worker pool parses the project once and runs one
``dbt build`` of everything selected (see that module for what each target answers for). Settings
under ``[rules.dbt]``: ``target`` (profile target, default ``dev``, the embedded DuckDB),
``profiles_dir`` (relative to the project, default ``.``), ``threads`` (default: the profile's),
``adapter`` (the adapter's distribution for the cache key, default ``dbt-duckdb``), ``timeout_s``
(per action, default 600) and ``vars`` (over dbt_project.yml's, given to dbt as ``--vars``). The
semantic-layer targets' action is ``dbt_parse``: dbt validates the semantic layer when it parses.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field as Setting

from graphbuild import Analyzer, Digest, Field, Origin, Requirement, RuleContext, RuleSettings, Target, TargetType
from graphbuild.rule import CHECKS_ONLY
from graphbuild.buildfiles import Declaration
from graphbuild.errors import GraphbuildError, RuleError
from graphbuild.ownership import Proposal
from graphbuild.run.action import Action
from graphbuild.values import FrozenDict, thaw
from rules import dbt_semantic as semantic
from rules.dbt_config import (
    DOC_KEYS,
    TEST_KEYS,
    disabled,
    folder_config,
    pop_tests,
    project_vars,
    split_docs,
    split_folder_docs,
)
from rules.dbt_properties import Properties, read_properties, singular_tests, yaml_test_requirements
from rules.digests.sql import sql_analyzer
from rules.digests.structured import YAML

__all__ = ["DbtSettings", "rule"]


class DbtSettings(RuleSettings):
    """``[rules.dbt]``."""

    dialect: str = Setting(default="duckdb", description="The SQL dialect models are parsed and normalised in (sqlglot's name).")
    target: str = Setting(default="dev", description="The profile target the checks build against (dev: the embedded DuckDB).")
    profiles_dir: str = Setting(
        default=".", description="The folder holding profiles.yml, relative to the project.", json_schema_extra=CHECKS_ONLY
    )
    threads: int | None = Setting(
        default=None, ge=1, description="dbt's threads (default: the profile's).", json_schema_extra=CHECKS_ONLY
    )
    adapter: str = Setting(
        default="dbt-duckdb",
        description="The adapter's distribution, whose version is in the checks' cache key.",
        json_schema_extra=CHECKS_ONLY,
    )
    timeout_s: float = Setting(
        default=600.0, gt=0, description="Timeout of one dbt action, in seconds.", json_schema_extra=CHECKS_ONLY
    )
    vars: dict[str, Any] = Setting(
        default_factory=dict, description="Vars over dbt_project.yml's, as dbt's --vars (they decide `enabled` too)."
    )


_PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "packages.yml", "dependencies.yml", "selectors.yml")
_MACRO_DEF = re.compile(r"\{%-?\s*(macro|test|materialization)\s+([A-Za-z_][A-Za-z0-9_]*)")
_VAR_CALL = re.compile(r"""\bvar\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]""")
_VARS = Analyzer("dbt-vars", "1", lambda data: sorted(set(_VAR_CALL.findall(data.decode("utf-8", "replace")))))
# dbt_project.yml sections whose parts apply to some nodes only: each node's digest takes its own part
# (the vars it reads, the folder configs on its path), so a change there affects only those nodes.
_PER_NODE_SECTIONS = ("vars", "models", "seeds", "data_tests", "tests")
_SEMANTIC_SECTION = {kind: section for section, kind in semantic.KINDS.items()}


def _macro_definitions(data: bytes) -> list[str]:
    """Names a macro file defines; a generic ``{% test x %}`` is the macro ``test_x``, as dbt names it."""
    text = data.decode("utf-8", "replace")
    return sorted({f"test_{n}" if kind == "test" else n for kind, n in _MACRO_DEF.findall(text)})


_MACRO_DEFS = Analyzer("dbt-macro-definitions", "1", _macro_definitions)


def _own_file(target: Target) -> str:
    """The model, seed or macro file itself (its YAML and tests are sources too)."""
    return f"{target.attributes['root']}/{target.attributes['path']}"


@dataclass(frozen=True, slots=True)
class _Expansion:
    """One ``dbt_project`` declaration being expanded: where the project is and what its files say."""

    declaration: Declaration
    values: FrozenDict
    ctx: RuleContext
    rule: str
    root: str
    settings: Mapping[str, Any]  # dbt_project.yml
    paths: Mapping[str, list[str]]  # model-paths, seed-paths, macro-paths, test-paths: workspace-relative
    sql: Any  # the SQL analyzer
    project: Properties
    needs_project: Requirement

    @property
    def project_file(self) -> str:
        return f"{self.root}/dbt_project.yml"

    def target(self, **fields: Any) -> Target:
        return self.ctx.target(self.declaration, self.values, rule=self.rule, **fields)


class DbtRule:
    name = "dbt"
    version = "1"
    settings_model, settings_read = DbtSettings, ()
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
        """The project's targets: the project, then models, seeds, sources, semantic-layer entries, macro files."""
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
        project = read_properties(ctx.snapshot, [*paths["model-paths"], *paths["seed-paths"], *paths["macro-paths"]])
        x = _Expansion(declaration, values, ctx, self.name, root, settings, paths, sql, project,
                       Requirement("dbt:project", Origin(project_file, None, "dbt project settings")))
        yield self._project_target(x)
        yield from self._models(x)
        yield from self._seeds(x)
        yield from self._sources(x)
        yield from self._semantic_entries(x)
        yield from self._macros(x)

    def _project_target(self, x: _Expansion) -> Target:
        project_files = [f"{x.root}/{name}" for name in _PROJECT_FILES if x.ctx.snapshot.blob_id(f"{x.root}/{name}")]
        docs_files = [p for d in x.paths["model-paths"] for p in x.ctx.snapshot.glob(["**/*.md"], under=d)]
        return x.target(kind="dbt_project", name="dbt_project", sources=[*project_files, *docs_files],
                        provides={"dbt:project"}, attributes={"root": x.root})

    def _models(self, x: _Expansion) -> Iterable[Target]:
        singular, singular_reads = singular_tests(x.ctx.snapshot, x.paths["test-paths"], x.sql)
        project, root = x.project, x.root
        for folder in x.paths["model-paths"]:
            for path in x.ctx.snapshot.glob(["**/*.sql"], under=folder):
                name = path.rpartition("/")[2][:-4]
                facts = x.ctx.snapshot.facts(path, x.sql)
                yml = [project.models[name][0]] if name in project.models else []
                yml += [p for p, _ in project.unit_tests.get(name, [])]
                requires = [x.needs_project, *self._sql_requirements(path, facts), *singular_reads.get(name, [])]
                if name in project.models:
                    requires += yaml_test_requirements(*project.models[name])
                entry = project.models.get(name, ("", {}))[1]
                off = disabled(x.ctx.rule_settings, x.settings, ("models", path.removeprefix(root + "/")), entry, facts["config"])
                yield x.target(kind="dbt_model", name=name, sources=[path, *yml, *singular.get(name, []), x.project_file],
                               attributes={"root": root, "path": path.removeprefix(root + "/"), **off},
                               provides={f"dbt:node:{name}"}, requires=requires)

    def _seeds(self, x: _Expansion) -> Iterable[Target]:
        for folder in x.paths["seed-paths"]:
            for path in x.ctx.snapshot.glob(["**/*.csv"], under=folder):
                name = path.rpartition("/")[2][:-4]
                yml = [x.project.seeds[name][0]] if name in x.project.seeds else []
                entry = x.project.seeds.get(name, ("", {}))[1]
                off = disabled(x.ctx.rule_settings, x.settings, ("seeds", path.removeprefix(x.root + "/")), entry)
                yield x.target(kind="dbt_seed", name=name, sources=[path, *yml, x.project_file],
                               attributes={"root": x.root, "path": path.removeprefix(x.root + "/"), **off},
                               provides={f"dbt:node:{name}"}, requires=[x.needs_project])

    def _sources(self, x: _Expansion) -> Iterable[Target]:
        sample_root = posixpath.normpath(f"{x.root}/{x.values['sample_data']}")
        for key, (yml, source, table) in sorted(x.project.sources.items()):
            sample = f"{sample_root}/{source['name']}/{table['name']}.csv"
            physical = f"{source.get('schema', source['name'])}.{table.get('identifier', table['name'])}"
            yield x.target(
                kind="dbt_source", name=key,
                sources=[yml, *([sample] if x.ctx.snapshot.blob_id(sample) else [])],
                attributes=disabled(x.ctx.rule_settings, x.settings, None, source, table),
                provides={f"dbt:source:{key}"},
                requires=[Requirement(f"table:{physical}", Origin(yml, None, f"source('{source['name']}', '{table['name']}')"), True)],
            )

    def _semantic_entries(self, x: _Expansion) -> Iterable[Target]:
        for (section, name), (yml, entry) in sorted(x.project.semantic.items()):
            off = disabled(x.ctx.rule_settings, x.settings, None, entry)
            yield x.target(kind=semantic.KINDS[section], name=f"{section}.{name}", sources=[yml, x.project_file],
                           attributes={"root": x.root, "path": yml.removeprefix(x.root + "/"), **off},
                           provides=semantic.provides(section, entry),
                           requires=[x.needs_project, *semantic.requirements(section, yml, entry)])

    def _macros(self, x: _Expansion) -> Iterable[Target]:
        for folder in x.paths["macro-paths"]:
            for path in x.ctx.snapshot.glob(["**/*.sql"], under=folder):
                text_facts = x.ctx.snapshot.facts(path, x.sql)
                defined = set(x.ctx.snapshot.facts(path, _MACRO_DEFS))
                requires = [r for r in self._sql_requirements(path, text_facts) if r.symbol.removeprefix("dbt:macro:") not in defined]
                yield x.target(kind="dbt_macro", attributes={"root": x.root, "path": path.removeprefix(x.root + "/")},
                               name="macros." + path.removeprefix(folder + "/")[:-4].replace("/", "."),
                               sources=[path, x.project_file], provides={f"dbt:macro:{m}" for m in defined}, requires=requires)

    def _sql_requirements(self, path: str, facts: Mapping[str, Any]) -> list[Requirement]:
        out = [Requirement(f"dbt:node:{name}", Origin(path, line, f"ref('{name}')")) for name, line in facts["refs"]]
        out += [Requirement(f"dbt:source:{s}.{t}", Origin(path, line, f"source('{s}', '{t}')")) for s, t, line in facts["sources"]]
        out += [Requirement(f"dbt:macro:{m}", Origin(path, None, f"{m}()"), True) for m in facts["macros"]]
        return out

    def digest(self, target: Target, ctx: RuleContext) -> Digest:
        if target.kind == "dbt_project":
            data = {p.rpartition("/")[2]: ctx.snapshot.facts(p, YAML)["value"] for p in target.sources if not p.endswith(".md")}
            docs = {p: ctx.snapshot.blob_id(p) for p in target.sources if p.endswith(".md")}
            project = dict(data.pop("dbt_project.yml", None) or {})
            per_node, per_node_docs = split_folder_docs({key: project.pop(key) for key in _PER_NODE_SECTIONS[1:] if key in project})
            if "vars" in project:  # var names are not doc keys
                per_node["vars"] = project.pop("vars")
            return Digest.of({"project setting": {**data, "dbt_project.yml": project}},
                             {"docs": docs, "per-node docs": per_node_docs}, {"per-node setting": per_node})
        if target.kind in _SEMANTIC_SECTION:
            section = _SEMANTIC_SECTION[target.kind]
            content = ctx.snapshot.facts(_own_file(target), YAML)["value"] or {}
            found = [e for s, n, e in semantic.entries(_own_file(target), content) if f"{s}.{n}" == target.label.name]
            return semantic.semantic_digest(section, found[-1])
        sql = self._sql(ctx)
        yml_entries = self._entries(target, ctx)
        if target.kind == "dbt_model":
            return self._model_digest(target, ctx, sql, yml_entries)
        if target.kind == "dbt_seed":
            entry_data, entry_docs = split_docs(yml_entries.get("seed", {}))
            entry_data.pop("name", None)
            columns, column_docs = self._columns(entry_data.pop("columns", None) or [])
            tests = {"seed test": {k: entry_data.pop(k) for k in TEST_KEYS if k in entry_data}, "column test": pop_tests(columns)}
            config, config_docs = split_docs(folder_config(self._project_settings(target, ctx), "seeds", target.attributes["path"]))
            return Digest.of(
                {"seed rows": ctx.snapshot.blob_id(_own_file(target)), "seed config": entry_data, "column": columns, "project config": config},
                {**entry_docs, "column description": column_docs, "project config docs": config_docs},
                tests,
            )
        if target.kind == "dbt_source":
            source, table = yml_entries.get("source", ({}, {}))
            table_data, table_docs = split_docs(table)
            source_data, source_docs = split_docs({k: v for k, v in source.items() if k != "tables"})
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
        defined = project_vars(self._project_settings(target, ctx), ctx.rule_settings)
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
            column_data, column_docs = split_docs(column)
            name = str(column_data.pop("name", ""))
            data[name] = column_data
            if column_docs:
                docs[name] = column_docs
        return data, docs

    def _model_digest(self, target: Target, ctx: RuleContext, sql, entries: dict[str, Any]) -> Digest:
        model_sql = _own_file(target)
        facts = ctx.snapshot.facts(model_sql, sql)
        entry_data, entry_docs = split_docs(entries.get("model", {}))
        yml_columns, column_docs = self._columns(entry_data.pop("columns", None) or [])
        columns: dict[str, Any] = {}
        for name, expression in (facts["columns"] or {}).items():
            columns[name] = {"expression": expression}
        for name, spec in yml_columns.items():
            columns[name] = {**columns.get(name, {}), **spec}
        config = {**(entry_data.pop("config", None) or {}), **facts["config"]}
        docs = {k: config.pop(k) for k in list(config) if k in DOC_KEYS}
        unit_tests = {}
        for name, test in entries["unit tests"].items():
            test_data, test_docs = split_docs(test)
            unit_tests[name] = test_data
            if test_docs:
                docs[f"unit test {name}"] = test_docs
        singular = {p: ctx.snapshot.facts(p, sql)["body"] for p in target.sources if p.endswith(".sql") and p != model_sql}
        column_tests = pop_tests(columns)
        entry_data.pop("name", None)  # naming the model in YAML (to test or describe it) changes nothing it computes
        model_tests = {k: entry_data.pop(k) for k in TEST_KEYS if k in entry_data}
        project_config, project_docs = split_docs(folder_config(self._project_settings(target, ctx), "models", target.attributes["path"]))
        data = {
            "SQL body": facts["body"],
            "config": config,
            "column": columns,
            "model property": entry_data,
            "project config": project_config,
            "var": self._vars(target, ctx, [model_sql]),
        }
        # what the model's checks assert, not what it computes: re-runs its checks, never its dependents'
        tests = {"model test": model_tests, "column test": column_tests, "unit test": unit_tests, "singular test": singular}
        metadata = {"description": entry_docs, "column description": column_docs, "project config docs": project_docs, **docs}
        return Digest.of(data, metadata, tests)

    def actions(self, target: Target, ctx: RuleContext) -> Iterable[Action]:
        """One ``dbt_build`` (``dbt_parse`` for the project) per target, batched per project."""
        root = self._project_root(target, ctx)
        if root is None or target.attributes.get("enabled") is False:  # dbt skips a disabled node: nothing to check
            return ()
        if target.kind == "dbt_project":
            file, name = "dbt_project.yml", "dbt_parse"
        elif target.kind in _SEMANTIC_SECTION:  # dbt parse validates the semantic layer
            file, name = str(target.attributes["path"]), "dbt_parse"
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
        if settings.get("vars"):
            request["vars"] = thaw(settings["vars"])
        adapter = str(settings.get("adapter", "dbt-duckdb"))
        toolchain = ("python", "dist:dbt-core", f"dist:{adapter}", *(("dist:duckdb",) if adapter == "dbt-duckdb" else ()))
        return (
            Action.of(
                target.label, name, "rules.checks.dbt:check_dbt", request,
                pool="dbt", timeout_s=float(settings.get("timeout_s", 600)), toolchain=toolchain, batch=f"dbt:{root}",
            ),
        )

    def tailor(self, paths: tuple[str, ...], ctx: RuleContext) -> Iterable[Proposal]:
        """A folder with an unowned dbt_project.yml gets ``dbt_project()``, covering the files it would own."""
        for project_file in (p for p in paths if p.rpartition("/")[2] == "dbt_project.yml"):
            folder = project_file.rpartition("/")[0]
            declaration = Declaration("dbt_project", FrozenDict(), f"{folder}/BUILD" if folder else "BUILD", 1, 1)
            try:
                targets = list(self.expand(declaration, self.target_types[0].validate(declaration), ctx))
            except GraphbuildError:  # e.g. invalid YAML: the entry is still right, `graphbuild check` then says what is wrong
                targets = []
            owned = {project_file, *(s for t in targets for s in t.sources)}
            yield Proposal(folder, "dbt_project()", tuple(p for p in paths if p in owned))

    def deploy_steps(self, target: Target, ctx: Any) -> Iterable[Any]:
        """One step per model and seed: build its version (or reuse the previous one) and swap its view.

        Sources, macros and the project have no step of their own: they are inputs of the models'
        fingerprints. ``ctx`` is a ``DeployPlanContext``; the change classification and the request are
        ``rules.deploy.dbt_classify`` and ``rules.deploy.dbt_local``. Every step is pointer-revertible:
        a version is built into its own physical schema and never changed, so a rollback re-points the
        view at the earlier one, incremental models included (the earlier table catches up from its own
        high-water mark on its next run).
        """
        if target.kind not in ("dbt_model", "dbt_seed") or target.attributes.get("enabled") is False:
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
