"""The dbt semantic layer (MetricFlow YAML): one target per semantic model, metric and saved query.

``semantic_models:``, ``metrics:`` and ``saved_queries:`` entries of a project's YAML files become
``dbt_semantic_model`` (``//dbt:semantic_models.payments``), ``dbt_metric`` (``//dbt:metrics.payment_volume``)
and ``dbt_saved_query`` (``//dbt:saved_queries.volume_by_currency``) targets. Their edges follow the
data: a semantic model requires the model of its ``model: ref('x')`` and provides its measures, a
metric requires the measures and metrics it is computed from, a saved query the metrics it asks for.
So a change in a model affects the semantic models over it and their metrics, and a change in one
metric affects that metric and what is computed from it, never the models. Descriptions, labels,
``meta`` and tags at any depth are metadata.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from graphbuild import Digest, Origin, Requirement
from rules.dbt_config import DOC_KEYS

__all__ = ["KINDS", "entries", "provides", "requirements", "semantic_digest", "split_nested_docs"]

KINDS = {"semantic_models": "dbt_semantic_model", "metrics": "dbt_metric", "saved_queries": "dbt_saved_query"}
_SYMBOL = {"semantic_models": "semantic_model", "metrics": "metric", "saved_queries": "saved_query"}
_REF = re.compile(r"""ref\(\s*['"]([^'"]+)['"]""")


def entries(path: str, content: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """``(section, name, entry)`` for each semantic-layer entry of one YAML file."""
    for section in KINDS:
        for entry in content.get(section) or []:
            if isinstance(entry, Mapping) and entry.get("name"):
                yield section, str(entry["name"]), entry


def provides(section: str, entry: Mapping[str, Any]) -> set[str]:
    """A semantic model provides its measures; a metric itself (``dbt:metric:<name>``)."""
    if section == "semantic_models":
        measures = [m.get("name") for m in entry.get("measures") or [] if isinstance(m, Mapping)]
        return {f"dbt:semantic_model:{entry['name']}", *(f"dbt:measure:{m}" for m in measures if m)}
    return {f"dbt:{_SYMBOL[section]}:{entry['name']}"}


def requirements(section: str, path: str, entry: Mapping[str, Any]) -> list[Requirement]:
    """What an entry is computed from: the model it refs, the measures and metrics it reads.

    >>> [r.symbol for r in requirements("metrics", "m.yml", {"name": "avg", "type": "ratio",
    ...     "type_params": {"numerator": "volume", "denominator": {"name": "count"}}})]
    ['dbt:metric:volume', 'dbt:metric:count']
    """
    found: list[tuple[str, str]] = []
    if section == "semantic_models":
        found += [("node", ref) for ref in _REF.findall(str(entry.get("model", "")))]
    elif section == "metrics":
        params = entry.get("type_params") or {}
        found += [("measure", n) for n in _names(params.get("measure"))]
        found += [("metric", n) for key in ("numerator", "denominator") for n in _names(params.get(key))]
        found += [("metric", n) for item in params.get("metrics") or [] for n in _names(item)]
        conversion = params.get("conversion_type_params") or {}
        found += [("measure", n) for key in ("base_measure", "conversion_measure") for n in _names(conversion.get(key))]
    else:
        found += [("metric", n) for item in (entry.get("query_params") or {}).get("metrics") or [] for n in _names(item)]
    how = {"node": "semantic model of ref('{}')", "measure": "measure {}", "metric": "metric {}"}
    return [Requirement(f"dbt:{kind}:{name}", Origin(path, None, how[kind].format(name))) for kind, name in dict.fromkeys(found)]


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping) and isinstance(value.get("name"), str):
        return [value["name"]]
    return []


def split_nested_docs(value: Any) -> tuple[Any, Any]:
    """Split behaviour from documentation at every depth: descriptions, labels, meta and tags are docs.

    >>> split_nested_docs({"name": "m", "label": "M", "measures": [{"name": "x", "agg": "sum", "description": "X"}]})
    ({'name': 'm', 'measures': [{'name': 'x', 'agg': 'sum'}]}, {'label': 'M', 'measures': [{'description': 'X'}]})
    """
    if isinstance(value, Mapping):
        data, docs = {}, {}
        for key, item in value.items():
            if key in DOC_KEYS:  # the same keys as a model's: one list of what is documentation
                docs[key] = item
                continue
            data[key], found = split_nested_docs(item)
            if found:
                docs[key] = found
        return data, docs
    if isinstance(value, list):
        pairs = [split_nested_docs(item) for item in value]
        docs = [d for _, d in pairs]
        return [d for d, _ in pairs], docs if any(docs) else []
    return value, {}


def semantic_digest(section: str, entry: Mapping[str, Any]) -> Digest:
    """The entry's behaviour (its data) and its documentation (metadata), by the entry's kind."""
    aspect = KINDS[section].removeprefix("dbt_").replace("_", " ")
    data, docs = split_nested_docs(entry)
    return Digest.of({aspect: data}, {f"{aspect} docs": docs})
