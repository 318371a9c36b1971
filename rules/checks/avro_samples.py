"""Round trips with fastavro: records generated from a writer schema, read back with a reader schema.

``sample_records`` builds deterministic records that visit every union branch and every enum symbol of
the writer's schema (each choice point cycles through its options independently, records are added
until all are covered), with edge values for numbers (the int and long limits, the widest decimal) so
that a reader that cannot resolve a branch, a symbol or a type fails the read. ``round_trip`` writes
them with fastavro and decodes them with the reader schema::

    >>> writer = parse_avro({"type": "enum", "name": "Status", "symbols": ["NEW", "DONE", "VOID"]})
    >>> reader = parse_avro({"type": "enum", "name": "Status", "symbols": ["NEW", "DONE"]})
    >>> records, complete = sample_records(writer)
    >>> records, complete
    (['NEW', 'DONE', 'VOID'], True)
    >>> round_trip(writer, reader, records)
    "record 3 of 3: SchemaResolutionError: VOID not found in reader symbol list Status, known symbols: ['NEW', 'DONE']"

fastavro decodes a logical type with the writer's annotation, so a changed decimal scale reads
without error: that rule is the compatibility checker's alone (``avro_compat``). fastavro refuses a
decimal with invalid parameters (a scale over its precision) where the specification says to ignore
the logical type, so ``parse_avro`` drops those annotations first, as ``avro_compat`` ignores them.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from graphbuild.errors import GraphbuildError
from rules.checks.avro_compat import MAX_DEPTH as MAX_SCHEMA_DEPTH
from rules.checks.avro_compat import logical_annotation

__all__ = ["ParsedSchema", "SampleError", "parse_avro", "round_trip", "sample_records"]

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
# logical type -> (first value, step, modulo): values every decoder can turn into dates and times
_LOGICAL_NUMBERS = {
    "date": (19_783, 1, 2**31),
    "time-millis": (34_200_000, 1_000, 86_400_000),
    "time-micros": (34_200_000_000, 1_000_000, 86_400_000_000),
    "timestamp-millis": (1_717_200_000_000, 1_000, 2**63),
    "timestamp-micros": (1_717_200_000_000_000, 1_000_000, 2**63),
    "timestamp-nanos": (1_717_200_000_000_000_000, 1_000_000_000, 2**63),
    "local-timestamp-millis": (1_717_200_000_000, 1_000, 2**63),
    "local-timestamp-micros": (1_717_200_000_000_000, 1_000_000, 2**63),
    "local-timestamp-nanos": (1_717_200_000_000_000_000, 1_000_000_000, 2**63),
}
MAX_DEPTH = MAX_SCHEMA_DEPTH + 1  # nested records; only a schema whose recursion cannot end gets deeper


class SampleError(GraphbuildError, ValueError):
    """No finite record can be built for the schema, or fastavro refused to write one."""


@dataclass(frozen=True, slots=True)
class ParsedSchema:
    """A schema as fastavro parsed it, with its named types by full name."""

    schema: Any
    named: dict[str, Any]


def parse_avro(schema: Any) -> ParsedSchema:
    """Parse with ``fastavro.schema.parse_schema``; its errors propagate.

    Call it on a schema ``avro_compat.parse`` accepted: that bounds its depth.
    """
    from fastavro.schema import parse_schema

    named: dict[str, Any] = {}
    return ParsedSchema(parse_schema(_without_invalid_logical_types(schema), named_schemas=named), named)


def _without_invalid_logical_types(schema: Any) -> Any:
    """A copy without the decimal annotations the specification says to ignore (fastavro refuses them)."""
    if isinstance(schema, list):
        return [_without_invalid_logical_types(branch) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    kind = out.get("type")
    if isinstance(kind, (dict, list)):
        out["type"] = _without_invalid_logical_types(kind)
    if out.get("logicalType") == "decimal" and isinstance(kind, str) and not logical_annotation(out, kind):
        for key in ("logicalType", "precision", "scale"):
            out.pop(key, None)
    for key in ("items", "values"):
        if key in out:
            out[key] = _without_invalid_logical_types(out[key])
    if isinstance(out.get("fields"), list):
        out["fields"] = [
            {**spec, "type": _without_invalid_logical_types(spec["type"])} if isinstance(spec, dict) and "type" in spec
            else spec
            for spec in out["fields"]
        ]
    return out


def sample_records(schema: ParsedSchema, max_records: int = 256) -> tuple[list[Any], bool]:
    """Records for ``schema`` visiting every union branch and enum symbol; True when all were visited."""
    sampler = _Sampler(schema.named)
    records: list[Any] = []
    while len(records) < max_records:
        records.append(sampler.value(schema.schema, "", (), False))
        if sampler.is_covered():
            return records, True
    return records, False


def round_trip(writer: ParsedSchema, reader: ParsedSchema, records: list[Any]) -> str | None:
    """Write ``records`` with ``writer`` and read them with ``reader``; the first failure, or None."""
    import fastavro

    buffer = io.BytesIO()
    for i, record in enumerate(records, 1):
        try:
            fastavro.schemaless_writer(buffer, writer.schema, record)
        except Exception as exc:  # a generator bug, not a compatibility verdict
            raise SampleError(f"fastavro could not write sample record {i}: {type(exc).__name__}: {exc}") from exc
    buffer.seek(0)
    for i in range(1, len(records) + 1):
        try:
            fastavro.schemaless_reader(buffer, writer.schema, reader.schema)
        except Exception as exc:
            return f"record {i} of {len(records)}: {type(exc).__name__}: {exc}"
    if buffer.read(1):
        return f"the reader left bytes unread after {len(records)} records"
    return None


def _branch_name(branch: Any) -> str:
    """The name fastavro's tuple notation ``(name, value)`` uses to pick a union branch."""
    if isinstance(branch, str):
        return branch
    return branch["name"] if branch["type"] in ("record", "error", "enum", "fixed") else branch["type"]


def _terminal_branch(branches: list[Any]) -> int:
    """The branch that ends a recursion soonest: null, a primitive, an enum or fixed, an empty array."""
    def rank(branch: Any) -> int:
        kind = branch if isinstance(branch, str) else branch["type"]
        return {"null": 0, "enum": 1, "fixed": 1, "array": 2, "map": 2}.get(kind, 1 if kind in PRIMITIVES else 3)

    return min(range(len(branches)), key=lambda i: rank(branches[i]))


class _Sampler:
    def __init__(self, named: dict[str, Any]) -> None:
        self.named = named
        self.visits: dict[str, int] = {}
        self.options: dict[str, int] = {}  # choice point -> how many options it has

    def is_covered(self) -> bool:
        return all(self.visits[key] >= count for key, count in self.options.items())

    def tick(self, key: str, options: int = 0) -> int:
        n = self.visits.get(key, 0)
        self.visits[key] = n + 1
        if options:
            self.options[key] = options
        return n

    def value(self, schema: Any, key: str, stack: tuple[str, ...], recursing: bool) -> Any:
        if isinstance(schema, list):
            if not schema:
                raise SampleError("an empty union [] has no value to write: give it a branch")
            if recursing:
                index = _terminal_branch(schema)
            else:
                index = self.tick(key, len(schema)) % len(schema)
            branch = schema[index]
            return (_branch_name(branch), self.value(branch, f"{key}/{index}", stack, recursing))
        if isinstance(schema, str):
            if schema in PRIMITIVES:
                return self.primitive(schema, {}, key)
            return self.value(self.named[schema], key, stack, recursing)
        kind = schema["type"]
        if kind in ("record", "error"):
            name = schema["name"]
            if len(stack) >= MAX_DEPTH:
                raise SampleError(f"record {name} nests without end: no finite record has this schema")
            inner = (*stack, name)
            recursing = recursing or name in stack
            return {f["name"]: self.value(f["type"], f"{key}/{f['name']}", inner, recursing) for f in schema["fields"]}
        if kind == "enum":
            symbols = schema["symbols"]
            return symbols[self.tick(key, 0 if recursing else len(symbols)) % len(symbols)]
        if kind == "array":
            count = 0 if recursing else 2
            return [self.value(schema["items"], f"{key}/items", stack, recursing) for _ in range(count)]
        if kind == "map":
            count = 0 if recursing else 2
            return {f"k{i}": self.value(schema["values"], f"{key}/values", stack, recursing) for i in range(count)}
        return self.primitive(kind, schema, key)

    def primitive(self, kind: str, schema: dict[str, Any], key: str) -> Any:
        n = self.tick(key)
        logical = schema.get("logicalType")
        if logical == "decimal" and kind in ("bytes", "fixed"):
            digits = schema["precision"]
            unscaled = ((10**digits - 1), -(10**digits - 1), n, 0)[n % 4]
            return Decimal(unscaled).scaleb(-schema.get("scale", 0))
        if logical == "uuid" and kind == "string":
            return uuid.UUID(int=n + 1)
        if kind == "null":
            return None
        if kind == "boolean":
            return n % 2 == 1
        if kind in ("int", "long") and logical in _LOGICAL_NUMBERS:
            start, step, modulo = _LOGICAL_NUMBERS[logical]
            return (start + n * step) % modulo
        if kind == "int":
            return (0, 2**31 - 1, -(2**31), n + 1)[n % 4]
        if kind == "long":
            return (0, 2**63 - 1, -(2**63), n + 1)[n % 4]
        if kind == "float":
            return n + 0.5
        if kind == "double":
            return n * 1.25 + 0.1
        if kind == "string":
            return f"s{n}-\u00e9"
        if kind == "bytes":
            return f"b{n}".encode()
        if kind == "fixed":
            return bytes((n + i) % 128 for i in range(schema["size"]))
        raise SampleError(f"unknown Avro type {kind!r}")
