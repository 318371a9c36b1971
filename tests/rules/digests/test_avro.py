"""The Avro digest (rules/digests/avro.py): bounded and total on any input."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.digests.avro import analyze_avro


def nested(levels: int) -> Any:
    schema: Any = "long"
    for i in range(levels):
        schema = {"type": "record", "name": f"Level{i}", "fields": [{"name": "inner", "type": schema}]}
    return schema


def test_a_200_level_schema_is_an_error_fact_not_a_recursion_error() -> None:
    facts = analyze_avro(json.dumps(nested(200)).encode())
    assert facts["schema"] is None and "more than 100 levels deep" in facts["error"]
    assert analyze_avro(json.dumps(nested(100)).encode())["error"] is None


def test_a_valid_schema_keeps_its_digest() -> None:
    facts = analyze_avro(b'{"type": "record", "name": "P", "fields": [{"name": "id", "type": "string", "aliases": ["b", "a"]}]}')
    assert facts["fields"] == {"id": {"aliases": ["a", "b"], "type": "string"}} and facts["order"] == ["id"]


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["type", "name", "fields", "items", "values", "aliases", "doc", "namespace"]), children, max_size=4),
    max_leaves=16,
))
def test_any_json_gives_facts(schema: Any) -> None:
    facts = analyze_avro(json.dumps(schema).encode())
    assert set(facts) == {"schema", "fields", "order", "docs", "error"}
    json.dumps(facts)  # facts are stored as JSON
