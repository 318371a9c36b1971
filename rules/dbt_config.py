"""dbt configs read without running dbt: behaviour or documentation, folder configs, ``enabled`` and vars.

Descriptions, ``docs``, ``meta`` (but the keys dbt-duckdb reads to locate data), tags and labels are
documentation wherever they are set: a node's YAML, its SQL config, a folder of dbt_project.yml.

dbt decides ``enabled`` from, lowest precedence first, the folder config of dbt_project.yml
(``+enabled``), the node's YAML ``config:`` and the model's own ``{{ config(enabled=...) }}``. A value
may be Jinja (``enabled: "{{ var('with_beta', false) }}"``); it is evaluated here with the vars dbt
would see: the project's ``vars:`` overridden by ``[rules.dbt] vars`` (which the checks pass to dbt as
``--vars``). A value that cannot be evaluated without dbt (a macro, ``target.type``) counts as enabled:
the node keeps its check, and dbt decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphbuild.values import thaw

__all__ = [
    "BEHAVIOUR_META", "DOC_KEYS", "TEST_KEYS", "disabled", "folder_config", "is_enabled", "pop_tests", "project_vars",
    "split_docs", "split_folder_docs",
]  # fmt: skip

DOC_KEYS = ("description", "docs", "meta", "tags", "label")
# dbt-duckdb reads these from `meta` to locate data: behaviour, not documentation
BEHAVIOUR_META = ("external_location", "plugin", "format")
TEST_KEYS = ("data_tests", "tests")


def split_docs(entry: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a YAML entry into behaviour and documentation (descriptions, meta, tags, docs)."""
    data, docs = {}, {}
    for key, value in entry.items():
        if key == "meta" and isinstance(value, Mapping):
            data.update({f"meta.{k}": v for k, v in value.items() if k in BEHAVIOUR_META})
            docs[key] = {k: v for k, v in value.items() if k not in BEHAVIOUR_META}
        elif key == "config" and isinstance(value, Mapping) and isinstance(value.get("meta"), str):
            data[key] = dict(value)  # a Jinja-templated meta (e.g. external_location per target) is behaviour
        elif key in DOC_KEYS:
            docs[key] = value
        elif key == "config" and isinstance(value, Mapping):
            data[key] = {k: v for k, v in value.items() if k not in DOC_KEYS}
            docs.update({f"config.{k}": v for k, v in value.items() if k in DOC_KEYS})
        else:
            data[key] = value
    return data, docs


def folder_config(project: Mapping[str, Any], section: str, path: str) -> dict[str, Any]:
    """The ``+config`` of dbt_project.yml's ``models:``/``seeds:`` that applies to a node at ``path``.

    >>> folder_config({"name": "p", "models": {"p": {"+tags": ["a"], "marts": {"+materialized": "table"}}}},
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


def pop_tests(columns: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Take the data tests out of each column's spec; a column left with nothing but its name is dropped.

    A column named in YAML only to be tested or described computes nothing new: its tests are the
    target's private aspect, its description metadata.

    >>> columns = {"id": {"data_tests": ["unique"]}, "amount": {"data_type": "int", "tests": ["not_null"]}}
    >>> pop_tests(columns), columns
    ({'id': {'data_tests': ['unique']}, 'amount': {'tests': ['not_null']}}, {'amount': {'data_type': 'int'}})
    """
    tests = {}
    for name, spec in list(columns.items()):
        found = {k: spec.pop(k) for k in TEST_KEYS if k in spec}
        if found:
            tests[name] = found
        if not spec:
            del columns[name]
    return tests


def split_folder_docs(level: Any) -> tuple[Any, dict[str, Any]]:
    """Split folder configs of dbt_project.yml (``models:``, ``seeds:``) into behaviour and documentation.

    >>> split_folder_docs({"models": {"p": {"+tags": ["a"], "marts": {"+materialized": "table"}}}})
    ({'models': {'p': {'marts': {'+materialized': 'table'}}}}, {'models': {'p': {'+tags': ['a']}}})
    """
    if not isinstance(level, Mapping):
        return level, {}
    configs = {str(k).removeprefix("+"): k for k, v in level.items() if str(k).startswith("+") or not isinstance(v, Mapping)}
    config_data, config_docs = split_docs({bare: level[key] for bare, key in configs.items()})
    data: dict[str, Any] = {configs.get(k, k): v for k, v in config_data.items() if k in configs}
    data.update({f"+{k}": v for k, v in config_data.items() if k not in configs})  # meta.<behaviour key>
    docs: dict[str, Any] = {configs[k]: v for k, v in config_docs.items()}
    for key, value in level.items():
        if str(key).removeprefix("+") not in configs:
            data[key], found = split_folder_docs(value)
            if found:
                docs[key] = found
    return data, docs


def disabled(settings: Mapping[str, Any], project: Mapping[str, Any], folder: tuple[str, str] | None, *configs: Any) -> dict[str, Any]:
    """``{"enabled": False}`` for a node dbt disables (``is_enabled``), else nothing.

    ``folder`` is the dbt_project.yml section and the node's path in the project; ``configs`` are its
    YAML entries and SQL config, lowest precedence first.
    """
    values = [folder_config(project, *folder).get("enabled")] if folder else []
    for config in configs:
        inner = config.get("config") if isinstance(config, Mapping) and "config" in config else config
        values.append(inner.get("enabled") if isinstance(inner, Mapping) else None)
    variables = project_vars(project, settings)
    return {} if is_enabled(values, variables, str(settings.get("target", "dev"))) else {"enabled": False}


_FALSE = frozenset({"false", "0", "no", "off", "none", ""})
_TRUE = frozenset({"true", "1", "yes", "on"})


def project_vars(project: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The vars dbt sees: dbt_project.yml's (global, then scoped to the project), then ``[rules.dbt] vars``.

    >>> project_vars({"name": "p", "vars": {"a": 1, "b": 1, "p": {"b": 2}}}, {"vars": {"a": 3}})
    {'a': 3, 'b': 2}
    """
    defined = project.get("vars")
    found: dict[str, Any] = {}
    if isinstance(defined, Mapping):
        name = project.get("name")
        found.update({k: v for k, v in defined.items() if not (k == name and isinstance(v, Mapping))})
        scoped = defined.get(name)
        if isinstance(scoped, Mapping):
            found.update(scoped)
    override = settings.get("vars")
    if isinstance(override, Mapping):
        found.update(thaw(override))
    return found


def is_enabled(values: list[Any], variables: Mapping[str, Any], target: str) -> bool:
    """The last ``enabled`` value that is set decides; one that cannot be evaluated counts as enabled.

    >>> is_enabled([False, None], {}, "dev"), is_enabled(["{{ var('beta', false) }}"], {"beta": True}, "dev")
    (False, True)
    >>> is_enabled(["var('beta',false)"], {}, "dev"), is_enabled(["{{ some_macro() }}"], {}, "dev")
    (False, True)
    """
    decided = True
    for value in values:
        if value is None:
            continue
        evaluated = _evaluate(value, variables, target)
        decided = True if evaluated is None else evaluated
    return decided


def _evaluate(value: Any, variables: Mapping[str, Any], target: str) -> bool | None:
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    if "{{" in text or "{%" in text:
        rendered = _render(text, variables, target)
        return None if rendered is None else _truth(rendered)
    result = _expression(text, variables, target)  # the source text of a config(enabled=...) argument
    return result if isinstance(result, bool) else None if result is None else _truth(result)


def _truth(value: Any) -> bool | None:
    text = str(value).strip().lower()
    return False if text in _FALSE else True if text in _TRUE else None


def _context(variables: Mapping[str, Any], target: str) -> dict[str, Any]:
    missing = object()

    def var(name: str, default: Any = missing) -> Any:
        if name in variables:
            return variables[name]
        if default is missing:
            raise KeyError(name)  # dbt fails on an unset var without a default; so does the evaluation
        return default

    return {"var": var, "target": {"name": target}}


def _environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined)


def _render(text: str, variables: Mapping[str, Any], target: str) -> str | None:
    try:
        return _environment().from_string(text).render(_context(variables, target))
    except Exception:  # noqa: BLE001 - anything dbt-specific (macros, adapters) is for dbt to evaluate
        return None


def _expression(text: str, variables: Mapping[str, Any], target: str) -> Any:
    try:
        return _environment().compile_expression(text)(**_context(variables, target))
    except Exception:  # noqa: BLE001 - as in _render
        return None
