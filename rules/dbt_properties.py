"""What a dbt project's YAML property files and singular tests say, by node name (for ``rules.dbt``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphbuild import Origin, Requirement
from graphbuild.errors import RuleError
from rules import dbt_semantic as semantic
from rules.digests.structured import YAML

__all__ = ["Properties", "read_properties", "singular_tests", "yaml_test_requirements"]

_REF_TEXT = re.compile(r"""ref\(\s*['"]([^'"]+)['"]\s*\)""")


@dataclass
class Properties:
    """What the YAML property files of a project say, by node name."""

    models: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    seeds: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    sources: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    unit_tests: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    macro_docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    semantic: dict[tuple[str, str], tuple[str, Mapping[str, Any]]] = field(default_factory=dict)  # (section, name)


def read_properties(snapshot: Any, folders: list[str]) -> Properties:
    """What the YAML files under ``folders`` say, by node name; invalid YAML is an error naming the file."""
    project = Properties()
    for folder in folders:
        for path in snapshot.glob(["**/*.yml", "**/*.yaml"], under=folder):
            facts = snapshot.facts(path, YAML)
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
            for section, name, entry in semantic.entries(path, content):
                project.semantic[(section, name)] = (path, entry)
    return project


def singular_tests(snapshot: Any, folders: list[str], sql: Any) -> tuple[dict[str, list[str]], dict[str, list[Requirement]]]:
    """Model name -> the singular tests that ref it, and the other models those tests ref (check-only)."""
    singular: dict[str, list[str]] = {}
    singular_reads: dict[str, list[Requirement]] = {}
    for folder in folders:
        for path in snapshot.glob(["**/*.sql"], under=folder):
            refs = snapshot.facts(path, sql)["refs"]
            for name, _line in refs:
                singular.setdefault(name, []).append(path)
                singular_reads.setdefault(name, []).extend(
                    Requirement(f"dbt:node:{other}", Origin(path, line, f"singular test ref('{other}')"), is_check_only=True)
                    for other, line in refs
                    if other != name
                )
    return singular, singular_reads


def yaml_test_requirements(path: str, entry: Mapping[str, Any]) -> list[Requirement]:
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
