"""Avro resolution rules (rules/checks/avro_compat.py), backed by fastavro round trips.

Each rule of the specification's "Schema Resolution" has a case with the path it must name; the
hypothesis properties generate writer schemas, derive reader schemas by random evolutions, and check
that the checker's verdict is the verdict of fastavro's reader on records that visit every union
branch and enum symbol (without logical types, where fastavro decodes with the writer's annotation,
a "compatible" verdict must still always decode).
"""

from __future__ import annotations

import copy
import doctest
import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rules.checks.avro_compat import (
    MODES,
    PROMOTIONS,
    SchemaError,
    check_mode,
    default_problem,
    incompatibilities,
    mode_checks,
    parse,
)
from rules.checks.avro_samples import parse_avro, round_trip, sample_records
from rules.checks.kafka import locate

TOPICS = Path(__file__).resolve().parents[3] / "kafka" / "topics"


def record(*fields: dict[str, Any], name: str = "Payment", **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "com.finsight.test", "fields": list(fields), **extra}


def f(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


def decimal(precision: int = 18, scale: int = 2) -> dict[str, Any]:
    return {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}


def enum(symbols: list[str], name: str = "Status", **extra: Any) -> dict[str, Any]:
    return {"type": "enum", "name": name, "symbols": symbols, **extra}


def problems(reader: Any, writer: Any) -> list[str]:
    return [str(p) for p in incompatibilities(reader, writer)]


def decodes(reader: Any, writer: Any) -> str | None:
    """fastavro's verdict: None when records generated from ``writer`` all decode with ``reader``."""
    w = parse_avro(writer)
    records, complete = sample_records(w)
    assert complete
    return round_trip(w, parse_avro(reader), records)


# ---------------------------------------------------------------------------------------------- rules


PROMOTABLE = [("int", "long"), ("int", "float"), ("int", "double"), ("long", "float"), ("long", "double"),
              ("float", "double"), ("string", "bytes"), ("bytes", "string")]
NOT_PROMOTABLE = [("long", "int"), ("double", "float"), ("float", "long"), ("boolean", "int"), ("null", "string"),
                  ("string", "int"), ("bytes", "long")]


@pytest.mark.parametrize(("writer", "reader"), PROMOTABLE)
def test_primitive_promotions_resolve(writer: str, reader: str) -> None:
    assert problems(record(f("v", reader)), record(f("v", writer))) == []
    assert decodes(record(f("v", reader)), record(f("v", writer))) is None


@pytest.mark.parametrize(("writer", "reader"), NOT_PROMOTABLE)
def test_other_primitive_changes_do_not(writer: str, reader: str) -> None:
    assert problems(record(f("v", reader)), record(f("v", writer))) == [
        f"/fields/v/type: type changed: {writer} data cannot be read as {reader}"
    ]
    assert decodes(record(f("v", reader)), record(f("v", writer))) is not None


CASES = [
    # (case, writer, reader, expected "path: message" fragments; [] when compatible)
    ("reader field without default", record(f("id", "string")), record(f("id", "string"), f("fee", "long")),
     ["/fields/fee: field fee is not in the writer's schema and has no default"]),
    ("reader field with default", record(f("id", "string")), record(f("id", "string"), f("fee", "long", default=0)), []),
    ("invalid default", record(f("id", "string")), record(f("id", "string"), f("fee", "long", default="0")),
     ["/fields/fee/default: field fee is not in the writer's schema and its default is invalid: '0' is not a valid long"]),
    ("writer-only field is skipped", record(f("id", "string"), f("legacy", "int")), record(f("id", "string")), []),
    ("field renamed with an alias", record(f("merchant", "string")),
     record(f("merchant_id", "string", aliases=["merchant"])), []),
    ("field renamed without an alias", record(f("merchant", "string")), record(f("merchant_id", "string")),
     ["/fields/merchant_id: field merchant_id is not in the writer's schema and has no default"]),
    ("alias matching two writer fields", record(f("a", "int"), f("b", "int")), record(f("b", "int", aliases=["a"])),
     ["/fields/b: reader field b matches both writer fields a and b"]),
    ("enum symbol unknown to the reader", record(f("s", enum(["A", "B", "C"]))), record(f("s", enum(["A", "B"]))),
     ["/fields/s/type/symbols: enum com.finsight.test.Status lacks writer symbol C and has no default"]),
    ("enum symbol with a reader default", record(f("s", enum(["A", "B", "C"]))),
     record(f("s", enum(["A", "B", "OTHER"], default="OTHER"))), []),
    ("enum symbol added for the reader", record(f("s", enum(["A"]))), record(f("s", enum(["A", "B"]))), []),
    ("enum renamed", record(f("s", enum(["A"]))), record(f("s", enum(["A"], name="State"))),
     ["/fields/s/type/name: enum com.finsight.test.Status was renamed to com.finsight.test.State"]),
    ("fixed size", record(f("h", {"type": "fixed", "name": "Hash", "size": 16})),
     record(f("h", {"type": "fixed", "name": "Hash", "size": 32})),
     ["/fields/h/type/size: fixed com.finsight.test.Hash size changed from 16 (writer) to 32 (reader)"]),
    ("fixed renamed with an alias", record(f("h", {"type": "fixed", "name": "Hash", "size": 16})),
     record(f("h", {"type": "fixed", "name": "Digest", "aliases": ["Hash"], "size": 16})), []),
    ("record renamed with a namespaced alias", record(f("id", "string"), name="Payment"),
     record(f("id", "string"), name="Transaction", aliases=["com.finsight.test.Payment"]), []),
    ("record alias in another namespace", record(f("id", "string"), name="Payment"),
     record(f("id", "string"), name="Transaction", aliases=["com.other.Payment"]),
     ["/name: record com.finsight.test.Payment was renamed to com.finsight.test.Transaction"]),
    ("nullable reader", record(f("v", "string")), record(f("v", ["null", "string"], default=None)), []),
    ("writer union into a non-union", record(f("v", ["null", "string"], default=None)), record(f("v", "string")),
     ["/fields/v/type: writer union branch 0 (null) cannot be read as string"]),
    ("writer union branch unknown to the reader union", record(f("v", ["null", "int", "string"], default=None)),
     record(f("v", ["null", "long"], default=None)),
     ["/fields/v/type: writer union branch 2 (string) matches no branch of the reader union [null, long]"]),
    ("union branches promoted", record(f("v", ["null", "int", "float"], default=None)),
     record(f("v", ["null", "double", "long"], default=None)), []),
    ("reader union picks its first matching branch", record(f("v", "int")),
     record(f("v", ["null", "long", "int"], default=None)), []),
    ("nested record field", record(f("merchant", record(f("mcc", "string"), name="Merchant"))),
     record(f("merchant", record(f("mcc", "int"), name="Merchant"))),
     ["/fields/merchant/type/fields/mcc/type: type changed: string data cannot be read as int"]),
    ("nested record inside a union", record(f("card", ["null", record(f("bin", "string"), name="Card")], default=None)),
     record(f("card", ["null", record(f("bin", "string"), f("last4", "string"), name="Card")], default=None)),
     ["/fields/card/type/1/fields/last4: field last4 is not in the writer's schema and has no default"]),
    ("array items", record(f("tags", {"type": "array", "items": "long"})),
     record(f("tags", {"type": "array", "items": "int"})),
     ["/fields/tags/type/items: type changed: long data cannot be read as int"]),
    ("map values", record(f("meta", {"type": "map", "values": "string"})),
     record(f("meta", {"type": "map", "values": "double"})),
     ["/fields/meta/type/values: type changed: string data cannot be read as double"]),
    ("array into a map", record(f("tags", {"type": "array", "items": "string"})),
     record(f("tags", {"type": "map", "values": "string"})),
     ["/fields/tags/type: type changed: array<string> data cannot be read as map<string>"]),
    ("decimal scale", record(f("amount", decimal(18, 2))), record(f("amount", decimal(18, 3))),
     ["/fields/amount/type/scale: decimal scale changed from 2 (writer) to 3 (reader)"]),
    ("decimal precision", record(f("amount", decimal(18, 2))), record(f("amount", decimal(12, 2))),
     ["/fields/amount/type/precision: decimal precision changed from 18 (writer) to 12 (reader)"]),
    ("decimal inside a union", record(f("fee", ["null", decimal(18, 2)], default=None)),
     record(f("fee", ["null", decimal(18, 4)], default=None)),
     ["/fields/fee/type/1/scale: decimal scale changed from 2 (writer) to 4 (reader)"]),
    ("decimal dropped to bytes", record(f("amount", decimal())), record(f("amount", "bytes")), []),
    ("decimal added to bytes", record(f("amount", "bytes")), record(f("amount", decimal())), []),
    ("uuid dropped to string", record(f("id", {"type": "string", "logicalType": "uuid"})), record(f("id", "string")), []),
    ("uuid added to string", record(f("id", "string")), record(f("id", {"type": "string", "logicalType": "uuid"})), []),
    ("date dropped to int", record(f("day", {"type": "int", "logicalType": "date"})), record(f("day", "int")), []),
    ("date added to int", record(f("day", "int")), record(f("day", {"type": "int", "logicalType": "date"})), []),
    ("date replaced by time-millis", record(f("v", {"type": "int", "logicalType": "date"})),
     record(f("v", {"type": "int", "logicalType": "time-millis"})),
     ["/fields/v/type/logicalType: logical type changed from date (writer) to time-millis (reader)"]),
    ("decimal with scale over precision is its bytes", record(f("v", decimal(2, 5))), record(f("v", "bytes")), []),
    ("decimal with scale over precision reads a decimal", record(f("v", decimal(18, 2))), record(f("v", decimal(2, 5))), []),
    ("timestamp precision", record(f("at", {"type": "long", "logicalType": "timestamp-millis"})),
     record(f("at", {"type": "long", "logicalType": "timestamp-micros"})),
     ["/fields/at/type/logicalType: logical type changed from timestamp-millis (writer) to timestamp-micros"]),
    ("unknown logical type is ignored", record(f("v", {"type": "string", "logicalType": "iban"})),
     record(f("v", "string")), []),
    ("decimal promoted from int is a logical change", record(f("v", "int")), record(f("v", decimal())),
     ["/fields/v/type: type changed: int data cannot be read as bytes (decimal(18,2))"]),
]


@pytest.mark.parametrize(("case", "writer", "reader", "expected"), CASES, ids=[c[0] for c in CASES])
def test_resolution_rule(case: str, writer: Any, reader: Any, expected: list[str]) -> None:
    found = problems(reader, writer)
    assert len(found) == len(expected), found
    for text, fragment in zip(found, expected):
        assert text.startswith(fragment), found
    for problem in incompatibilities(reader, writer):  # every path points into the reader's text
        assert locate(json.dumps(reader, indent=1), problem.path) is not None
    if not expected:  # the round trip agrees with every "compatible" verdict
        assert decodes(reader, writer) is None


def test_decimal_changes_are_incompatible_although_the_bytes_decode() -> None:
    writer, reader = record(f("amount", decimal(18, 2))), record(f("amount", decimal(18, 3)))
    assert problems(reader, writer) and decodes(reader, writer) is None


def test_recursive_schemas_and_named_references() -> None:
    node = {"type": "record", "name": "Node", "fields": [f("value", "long"), f("next", ["null", "Node"], default=None)]}
    assert problems(node, node) == [] and decodes(node, node) is None
    grown = copy.deepcopy(node)
    grown["fields"].append(f("label", "string", default=""))
    assert problems(grown, node) == [] and decodes(grown, node) is None
    assert problems(node, grown) == []
    reused = record(f("home", record(f("city", "string"), name="Address")), f("work", ["null", "Address"], default=None))
    changed = record(f("home", record(f("city", "int"), name="Address")), f("work", ["null", "Address"], default=None))
    assert problems(changed, reused) == ["/fields/home/type/fields/city/type: type changed: string data cannot be read as int"]
    assert decodes(changed, reused) is not None


def test_defaults() -> None:
    address = record(f("city", "string"), f("zip", ["null", "string"], default=None), name="Address")
    assert default_problem(address, {"city": "Paris"}) is None
    assert default_problem(address, {"zip": None}) == "record com.finsight.test.Address needs a value for field city"
    assert default_problem(["null", "long"], 3) is None  # any branch, as Avro 1.12 and fastavro accept
    assert default_problem("int", 2**31) == f"{2**31} is not a valid int"
    assert default_problem({"type": "array", "items": "int"}, [1, "2"]) == "'2' is not a valid int"
    assert default_problem(enum(["A"]), "B") == "'B' is not a valid enum Status"


@pytest.mark.parametrize(
    ("schema", "path", "message"),
    [
        ({"type": "record", "name": "R"}, "/fields", 'record R needs a "fields" array'),
        (record(f("a", "Missing")), "/fields/a/type", "unknown type 'Missing'"),
        (record(f("a", "int"), f("a", "long")), "/fields/1", "two fields named a"),
        (["int", "int"], "/1", "union branches 0 and 1 are both int"),
        (["null", ["int"]], "/1", "may not immediately contain another union"),
        (enum(["A"], default="B"), "/default", "the default 'B' is not a symbol"),
        ({"type": "fixed", "name": "F"}, "/size", 'needs a non-negative integer "size"'),
        (record(f("a", record(name="Payment"))), "/fields/a/type/name", "defined twice"),
        (42, "/", "a schema is a string, an object or an array, not a number"),
        ([], "/", "an empty union [] has no value to write or read: give it a branch"),
        (record(f("a", ["null", []])), "/fields/a/type/1", "an empty union []"),
        (enum([]), "/symbols", "enum Status has no symbols"),
    ],
)
def test_invalid_schemas_are_errors_with_a_path(schema: Any, path: str, message: str) -> None:
    with pytest.raises(SchemaError) as caught:
        parse(schema)
    assert caught.value.path == path and message in caught.value.message


# ---------------------------------------------------------------------------------------------- modes

V1 = record(f("id", "string"), f("x", "int", default=0))
V2 = record(f("id", "string"))
V3 = record(f("id", "string"), f("x", "string", default=""))  # fine next to v2, not next to v1
HISTORY = [("v1", V1), ("v2", V2)]
REQUIRED_ADDED = record(f("id", "string"), f("new_required", "long"))
REQUIRED_REMOVED = record(f("x", "int", default=0))


@pytest.mark.parametrize(
    ("mode", "new", "expected"),
    [
        ("BACKWARD", REQUIRED_ADDED, ["/fields/new_required: field new_required is not in the writer's schema"]),
        ("FORWARD", REQUIRED_ADDED, []),
        ("FORWARD", REQUIRED_REMOVED, ["/fields/id: field id is not in the writer's schema"]),
        ("BACKWARD", REQUIRED_REMOVED, []),
        ("FULL", REQUIRED_ADDED, ["/fields/new_required: field new_required"]),
        ("FULL", REQUIRED_REMOVED, ["/fields/id: field id"]),
        ("BACKWARD", V3, []),
        ("BACKWARD_TRANSITIVE", V3, ["/fields/x/type: type changed: int data cannot be read as string"]),
        ("FORWARD", V3, []),
        ("FORWARD_TRANSITIVE", V3, ["/fields/x/type: type changed: string data cannot be read as int"]),
        ("FULL", V3, []),
        ("FULL_TRANSITIVE", V3, ["/fields/x/type: type changed: int data", "/fields/x/type: type changed: string data"]),
        ("NONE", record(f("id", "long")), []),
    ],
)
def test_each_mode_rejects_its_incompatible_change(mode: str, new: Any, expected: list[str]) -> None:
    found = [str(p) for p in check_mode(mode, new, HISTORY)]
    assert len(found) == len(expected), found
    for text, fragment in zip(found, expected):
        assert text.startswith(fragment), found


def test_mode_directions_name_reader_and_writer() -> None:
    (backward,) = check_mode("BACKWARD", REQUIRED_ADDED, HISTORY, new_label="schema.avsc")
    assert (backward.reader, backward.writer) == ("schema.avsc", "v2")
    assert backward.describe().endswith("(schema.avsc reading v2)")
    (forward,) = check_mode("forward", REQUIRED_REMOVED, HISTORY, new_label="schema.avsc")
    assert (forward.reader, forward.writer) == ("v2", "schema.avsc")
    assert {m: len(mode_checks(m, 3)) for m in MODES} == {
        "BACKWARD": 1, "BACKWARD_TRANSITIVE": 3, "FORWARD": 1, "FORWARD_TRANSITIVE": 3, "FULL": 2,
        "FULL_TRANSITIVE": 6, "NONE": 0,
    }
    with pytest.raises(ValueError, match="unknown compatibility mode 'SIDEWAYS'"):
        check_mode("SIDEWAYS", V1, HISTORY)


@pytest.mark.parametrize("topic", sorted(p.name for p in TOPICS.iterdir() if p.is_dir()))
def test_every_platform_schema_reads_itself(topic: str) -> None:
    schema = json.loads((TOPICS / topic / "schema.avsc").read_text(encoding="utf-8"))
    assert problems(schema, schema) == []


# ---------------------------------------------------------------------------------------------- properties

PRIMITIVE_NAMES = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
LOGICAL = [decimal(9, 2), decimal(9, 3), {"type": "long", "logicalType": "timestamp-millis"},
           {"type": "long", "logicalType": "timestamp-micros"}, {"type": "int", "logicalType": "date"},
           {"type": "string", "logicalType": "uuid"}]
FIELD_NAMES = ["id", "amount", "status", "merchant", "tags", "card", "at", "note"]
SYMBOLS = ["A", "B", "C", "D"]
NAMED_KINDS = ("record", "enum", "fixed")


def _union(branches: list[Any]) -> list[Any]:
    out, kinds = [], set()
    for branch in branches:
        if isinstance(branch, list):
            continue
        kind = branch if isinstance(branch, str) else branch["type"]
        if kind not in NAMED_KINDS and kind in kinds:
            continue
        kinds.add(kind)
        out.append(branch)
    return out or ["null"]


def _name_types(schema: Any) -> Any:
    """Unique names T0, T1, ... for the generated named types."""
    schema, counter = copy.deepcopy(schema), iter(range(10_000))

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for branch in node:
                walk(branch)
        elif isinstance(node, dict):
            if node["type"] in NAMED_KINDS:
                node["name"] = f"T{next(counter)}"
            for child in [*(x["type"] for x in node.get("fields", ())), node.get("items"), node.get("values")]:
                if child is not None:
                    walk(child)

    walk(schema)
    schema.update(name="Top", namespace="com.finsight.gen")
    return schema


def writer_schemas(logical: bool = False) -> st.SearchStrategy[Any]:
    leaves = st.sampled_from(PRIMITIVE_NAMES)
    if logical:
        leaves = leaves | st.sampled_from(LOGICAL).map(copy.deepcopy)
    enums = st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=4, unique=True).map(
        lambda s: {"type": "enum", "name": "?", "symbols": s})
    fixeds = st.integers(1, 4).map(lambda n: {"type": "fixed", "name": "?", "size": n})

    def records(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.lists(st.tuples(st.sampled_from(FIELD_NAMES), children), min_size=1, max_size=4,
                        unique_by=lambda t: t[0]).map(
            lambda fs: {"type": "record", "name": "?", "fields": [{"name": n, "type": t} for n, t in fs]})

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return (records(children) | children.map(lambda c: {"type": "array", "items": c})
                | children.map(lambda c: {"type": "map", "values": c})
                | st.lists(children, min_size=1, max_size=3).map(_union))

    tree = st.recursive(leaves | enums | fixeds, extend, max_leaves=8)
    return records(tree).map(_name_types)


def default_for(schema: Any) -> Any:
    if isinstance(schema, list):
        return default_for(schema[0])
    kind = schema if isinstance(schema, str) else schema["type"]
    simple = {"null": None, "boolean": False, "int": 0, "long": 0, "float": 0.5, "double": 0.5, "string": "x",
              "bytes": "\u00ff", "array": [], "map": {}}
    if kind in simple:
        return simple[kind]
    if kind == "enum":
        return schema["symbols"][0]
    if kind == "fixed":
        return "a" * schema["size"]
    return {x["name"]: default_for(x["type"]) for x in schema["fields"]}


class Evolution:
    """Derives a reader schema from a writer schema by random evolutions, drawn with hypothesis.

    Every decision point keeps the writer's choice five times in six; otherwise it draws one of the
    evolutions that apply there: retype, make nullable, rename (with or without an alias), resize,
    add or drop fields, symbols, branches and defaults, reorder or unwrap unions, swap array and map,
    and (``logical``) change a decimal's scale or precision or drop a logical type.
    """

    def __init__(self, data: st.DataObject, logical: bool) -> None:
        self.data, self.logical, self.fresh = data, logical, iter(range(10_000))

    def change(self, options: list[str]) -> str:
        if self.data.draw(st.integers(0, 5)) != 0:
            return "keep"
        return self.data.draw(st.sampled_from(options))

    def pick(self, options: list[Any]) -> Any:
        return self.data.draw(st.sampled_from(options))

    def name(self, prefix: str) -> str:
        return f"{prefix}{next(self.fresh)}"

    def top(self, writer: dict[str, Any]) -> dict[str, Any]:
        reader = dict(writer)
        self.rename(reader)
        reader["fields"] = self.fields(writer["fields"])
        return reader

    def type(self, node: Any, in_union: bool = False) -> Any:
        choice = self.change(["retype", "promote"] if in_union else ["retype", "promote", "nullable"])
        if choice == "retype":
            return self.pick(PRIMITIVE_NAMES)
        if choice == "promote" and isinstance(node, str) and node in PROMOTIONS:
            return self.pick(sorted(PROMOTIONS[node]))
        if choice == "nullable" and not isinstance(node, list):
            return ["null", self.type(node, in_union=True)]
        if isinstance(node, str):
            return node
        if isinstance(node, list):
            return self.union(node)
        node = copy.deepcopy(node) if node["type"] not in ("record", "array", "map") else dict(node)
        kind = node["type"]
        if kind in NAMED_KINDS:
            self.rename(node)
        if kind == "record":
            node["fields"] = self.fields(node["fields"])
        elif kind == "enum":
            self.symbols(node)
        elif kind == "fixed" and self.change(["resize"]) == "resize":
            node["size"] += 1 if node["size"] == 1 else self.pick([1, -1])
        elif kind in ("array", "map"):
            key = "items" if kind == "array" else "values"
            node[key] = self.type(node[key])
            if self.change(["swap"]) == "swap":
                node = {"type": "map", "values": node[key]} if kind == "array" else {"type": "array", "items": node[key]}
        elif self.logical and "logicalType" in node:
            node.update(self.pick([{}, {"scale": 3}, {"precision": 8}, {"logicalType": "x-none"}]))
        return node

    def union(self, branches: list[Any]) -> Any:
        out = [self.type(b, in_union=True) for b in branches]
        choice = self.change(["drop", "reorder", "add", "unwrap"])
        if choice == "drop" and len(out) > 1:
            out.pop(self.pick(range(len(out))))
        elif choice == "reorder":
            out = self.data.draw(st.permutations(out))
        elif choice == "add":
            out.append(self.pick(PRIMITIVE_NAMES))
        elif choice == "unwrap":
            return out[0]
        return _union(out)

    def rename(self, node: dict[str, Any]) -> None:
        choice = self.change(["alias", "short alias", "plain"])
        if choice != "keep":
            old, node["name"] = node["name"], self.name("R")
            if choice != "plain":
                node["aliases"] = [old if choice == "short alias" else f"com.finsight.gen.{old}"]

    def symbols(self, node: dict[str, Any]) -> None:
        symbols = list(node["symbols"])
        choice = self.change(["add", "drop", "drop"])
        if choice == "add":
            symbols.append(self.name("S"))
        elif choice == "drop" and len(symbols) > 1:
            symbols.pop(self.pick(range(len(symbols))))
        node["symbols"] = symbols
        if self.change(["default"]) == "default":
            node["default"] = self.pick(symbols)

    def fields(self, fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for field in fields:
            choice = self.change(["drop", "rename", "rename with alias", "rename with default"])
            if choice == "drop":
                continue
            new = {"name": field["name"], "type": self.type(field["type"])}
            if choice != "keep":
                new["name"] = self.name("f")
                if choice == "rename with alias":
                    new["aliases"] = [field["name"]]
                elif choice == "rename with default":
                    new["default"] = default_for(new["type"])
            out.append(new)
        choice = self.change(["add", "add with default"])
        if choice != "keep":
            added = self.pick([*PRIMITIVE_NAMES[1:], {"type": "enum", "name": self.name("E"), "symbols": ["X"]}])
            out.append({"name": self.name("f"), "type": added}
                       | ({"default": default_for(added)} if choice == "add with default" else {}))
        return out


def evolve(data: st.DataObject, writer: Any, logical: bool) -> Any:
    reader = Evolution(data, logical).top(writer)
    try:
        parse(reader)
        parse_avro(reader)
    except Exception:
        assume(False)
    return reader


def verdicts(reader: Any, writer: Any) -> tuple[list[str], str | None]:
    w = parse_avro(writer)
    records, complete = sample_records(w)
    assume(complete)
    return problems(reader, writer), round_trip(w, parse_avro(reader), records)


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@FAST
@given(writer_schemas(), st.data())
def test_the_checker_agrees_with_fastavro_on_evolved_schemas(writer: Any, data: st.DataObject) -> None:
    reader = evolve(data, writer, logical=False)
    found, error = verdicts(reader, writer)
    assert (not found) == (error is None), f"checker: {found}\nfastavro: {error}\nwriter: {writer}\nreader: {reader}"
    text = json.dumps(reader, indent=1)
    assert all(locate(text, p.split(": ")[0]) is not None for p in found)


@FAST
@given(writer_schemas(logical=True), st.data())
def test_a_compatible_verdict_always_decodes_with_logical_types(writer: Any, data: st.DataObject) -> None:
    reader = evolve(data, writer, logical=True)
    found, error = verdicts(reader, writer)
    assert found or error is None, f"checker found nothing but fastavro failed: {error}\nwriter: {writer}\nreader: {reader}"


@settings(max_examples=60, deadline=None)
@given(writer_schemas(logical=True))
def test_every_schema_reads_itself_and_its_records(writer: Any) -> None:
    found, error = verdicts(writer, writer)
    assert found == [] and error is None


@pytest.mark.parametrize(
    "module", ["rules.checks.avro_bounds", "rules.checks.avro_compat", "rules.checks.avro_samples", "rules.checks.kafka"]
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0


# ---------------------------------------------------------------------------------------------- bounds


def nested(levels: int, wrap: Any = None) -> Any:
    schema: Any = "long"
    for i in range(levels):
        inner = schema if wrap is None else wrap(schema)
        schema = record(f("inner", inner), name=f"Level{i}")
    return schema


def test_a_200_level_schema_is_refused_with_the_limit_not_a_recursion_error() -> None:
    for deep in (nested(200), nested(100, lambda t: ["null", t]), {"type": "array", "items": nested(150)}):
        with pytest.raises(SchemaError) as caught:
            parse(deep)
        assert "the schema nests types more than 100 levels deep, the limit" in str(caught.value)
        assert len(str(caught.value)) < 300 and caught.value.path.startswith("/")
    assert problems(nested(100), nested(100)) == []  # at the limit: every walk still fits
    assert decodes(nested(100), nested(100)) is None


def test_named_references_count_toward_the_depth() -> None:
    # Each record names the one before it: shallow as written, 150 levels deep as a type.
    fields = [f("f0", record(f("x", "int"), name="C0"))]
    fields += [f(f"f{i}", record(f("x", f"C{i - 1}"), name=f"C{i}")) for i in range(1, 150)]
    with pytest.raises(SchemaError, match=r"more than 100 levels deep \(through the named type com\.finsight\.test\.C\d+\)"):
        parse(record(*fields))
    recursive = {"type": "record", "name": "Node", "fields": [f("next", ["null", "Node"], default=None)]}
    assert parse(recursive).fields[0].type.branches[1].name == "Node"  # recursion is no depth


def test_a_100k_field_record_parses_and_resolves_in_linear_time() -> None:
    import time

    wide = record(*(f(f"f{i}", "int") for i in range(100_000)))
    start = time.perf_counter()
    parsed = parse(wide)
    assert problems(parsed, parsed) == []
    assert time.perf_counter() - start < 15  # quadratic before: about 120 s


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["int", "string", "null", "record", "enum", "R", "decimal"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["type", "name", "fields", "items", "values", "symbols", "size", "default", "logicalType",
                         "precision", "scale", "aliases", "namespace"]), children, max_size=5),
    max_leaves=20,
))
def test_random_json_is_a_schema_or_a_schema_error(schema: Any) -> None:
    from graphbuild.errors import GraphbuildError

    try:
        parsed = parse(schema)
    except SchemaError as exc:
        assert isinstance(exc, GraphbuildError) and str(exc).startswith(exc.path[:1] or "/")
        return
    incompatibilities(parsed, parsed)
