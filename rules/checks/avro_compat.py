"""Avro schema compatibility: the resolution rules of the Avro specification, as a pure library.

``incompatibilities(reader, writer)`` answers whether data written with ``writer`` can be read with
``reader`` ("Schema Resolution" in the Avro specification) and names every reason it cannot by its
path in the reader's schema; ``check_mode`` applies a schema registry compatibility mode to a new
schema and the versions registered before it::

    >>> old = {"type": "record", "name": "Payment", "fields": [
    ...     {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2}}]}
    >>> new = {"type": "record", "name": "Payment", "fields": [
    ...     {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 3}},
    ...     {"name": "fee", "type": "long"}]}
    >>> for problem in check_mode("BACKWARD", new, [("v1", old)], new_label="new"):
    ...     print(problem)
    /fields/amount/type/scale: decimal scale changed from 2 (writer) to 3 (reader)
    /fields/fee: field fee is not in the writer's schema and has no default

The rules: named types match by unqualified name or by a reader alias naming the writer's full name;
record fields match by name, then by a reader field's aliases; a reader field the writer lacks needs a
(valid) default and a writer field the reader lacks is skipped; enum symbols the writer may send must
be reader symbols unless the reader enum has a default; fixed sizes must be equal; every branch of a
writer union must resolve, and a reader union reads with its first branch that matches; int, long and
float promote to the wider numbers and string and bytes to each other. Logical types resolve by
their underlying type, as the specification says: a reader without the annotation reads the writer's
``uuid`` as a string and its ``date`` as an int, and a reader with it reads the plain values, so an
annotation that appears or disappears is compatible. Where both sides annotate, the checker is
stricter than the encoding: a decimal whose precision or scale changes, or a logical type replaced by
another (``timestamp-millis`` by ``timestamp-micros``), is an incompatibility although the bytes would
decode. A logical type with invalid parameters (a decimal whose scale exceeds its precision) is
ignored, as the specification says, and the value read as its underlying type.

A schema nests at most ``MAX_DEPTH`` types deep (a record in a record's field, an array's items, a
union's branch, a named type used by reference), so that every walk over it is bounded; deeper
schemas are a ``SchemaError``. The work is linear in the size of the schema.

Branch selection in a reader union follows the reference decoders (fastavro, Java's resolver): the
first branch of the same kind of type, a named type by name, or a promotion. Where the specification
leaves room the checker is the stricter one, so that a "compatible" verdict always decodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rules.checks.avro_bounds import MAX_DEPTH, SchemaError, check_depth, check_type_depth

__all__ = [
    "MAX_DEPTH",
    "MODES",
    "AvroType",
    "Incompatibility",
    "SchemaError",
    "check_depth",
    "check_mode",
    "default_problem",
    "incompatibilities",
    "logical_annotation",
    "mode_checks",
    "pairs",
    "parse",
]

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "enum", "fixed"})
MODES = ("BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE")
# writer type -> reader types it promotes to
PROMOTIONS = {"int": {"long", "float", "double"}, "long": {"float", "double"}, "float": {"double"},
              "string": {"bytes"}, "bytes": {"string"}}
# logical type -> the Avro types it annotates (other combinations are ignored, as the spec says)
LOGICAL_TYPES = {
    "decimal": {"bytes", "fixed"}, "big-decimal": {"bytes"}, "uuid": {"string", "fixed"}, "date": {"int"},
    "time-millis": {"int"}, "time-micros": {"long"}, "timestamp-millis": {"long"}, "timestamp-micros": {"long"},
    "timestamp-nanos": {"long"}, "local-timestamp-millis": {"long"}, "local-timestamp-micros": {"long"},
    "local-timestamp-nanos": {"long"}, "duration": {"fixed"},
}
_INT_RANGE = {"int": 2**31, "long": 2**63}
_MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """One reason the reader cannot read what the writer wrote, at ``path`` in the reader's schema."""

    path: str
    message: str
    reader: str = ""  # which schema reads (a label such as a file name), when known
    writer: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def describe(self) -> str:
        """The problem with its direction, e.g. ``... (schema.avsc reading versions/3.avsc)``."""
        return f"{self} ({self.reader} reading {self.writer})" if self.reader or self.writer else str(self)


@dataclass(eq=False, slots=True)
class AvroField:
    name: str
    type: AvroType
    aliases: tuple[str, ...] = ()
    default: Any = _MISSING

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING


@dataclass(eq=False, slots=True)
class AvroType:
    """A parsed schema node; named types are shared objects, so recursive schemas are cycles."""

    kind: str  # a primitive, "record", "enum", "fixed", "array", "map" or "union"
    name: str = ""  # full name of a named type
    aliases: frozenset[str] = frozenset()  # full names
    raw_aliases: tuple[str, ...] = ()  # as written, for the lenient matching of decoders
    logical: tuple[Any, ...] = ()  # ("decimal", precision, scale), ("timestamp-millis",), () for none
    fields: list[AvroField] = field(default_factory=list)
    symbols: tuple[str, ...] = ()
    default: Any = _MISSING  # an enum's default symbol
    size: int = 0
    items: AvroType | None = None  # array items or map values
    branches: tuple[AvroType, ...] = ()

    @property
    def short_name(self) -> str:
        return self.name.rpartition(".")[2]

    def describe(self) -> str:
        if self.kind == "union":
            return "[" + ", ".join(b.describe() for b in self.branches) + "]"
        if self.kind in NAMED:
            return f"{self.kind} {self.name}"
        if self.kind in ("array", "map"):
            return f"{self.kind}<{self.items.describe() if self.items else '?'}>"
        return self.kind if not self.logical else f"{self.kind} ({_logical_text(self.logical)})"


def parse(schema: Any) -> AvroType:
    """Parse a schema in its JSON form (already decoded) into ``AvroType`` nodes.

    >>> parse(["null", {"type": "array", "items": "long"}]).describe()
    '[null, array<long>]'
    """
    if isinstance(schema, AvroType):
        return schema
    check_depth(schema)
    parsed = _Parser().parse(schema, "", "")
    check_type_depth(parsed)
    return parsed


class _Parser:
    def __init__(self) -> None:
        self.names: dict[str, AvroType] = {}

    def parse(self, schema: Any, namespace: str, path: str) -> AvroType:
        if isinstance(schema, str):
            return self.reference(schema, namespace, path)
        if isinstance(schema, list):
            return self.union(schema, namespace, path)
        if not isinstance(schema, dict):
            raise SchemaError(f"a schema is a string, an object or an array, not {_json_type(schema)}", path)
        kind = schema.get("type", _MISSING)
        if kind is _MISSING:
            raise SchemaError('a schema object needs a "type"', path)
        if isinstance(kind, (dict, list)):
            return self.parse(kind, namespace, path + "/type")
        if not isinstance(kind, str):
            raise SchemaError(f'"type" must be a string, not {_json_type(kind)}', path + "/type")
        if kind in PRIMITIVES:
            return AvroType(kind, logical=logical_annotation(schema, kind))
        if kind in ("record", "error", "enum", "fixed"):
            return self.named(schema, "record" if kind == "error" else kind, namespace, path)
        if kind in ("array", "map"):
            key = "items" if kind == "array" else "values"
            if key not in schema:
                raise SchemaError(f'an {kind} needs "{key}"', path)
            return AvroType(kind, items=self.parse(schema[key], namespace, f"{path}/{key}"))
        return self.reference(kind, namespace, path + "/type")

    def reference(self, name: str, namespace: str, path: str) -> AvroType:
        if name in PRIMITIVES:
            return AvroType(name)
        candidates = [name] if "." in name else ([f"{namespace}.{name}", name] if namespace else [name])
        for candidate in candidates:
            if candidate in self.names:
                return self.names[candidate]
        raise SchemaError(f"unknown type {name!r} (a primitive, or a named type defined before this point)", path)

    def union(self, schema: list[Any], namespace: str, path: str) -> AvroType:
        if not schema:
            raise SchemaError('an empty union [] has no value to write or read: give it a branch, e.g. ["null"]', path)
        branches = tuple(self.parse(b, namespace, f"{path}/{i}") for i, b in enumerate(schema))
        seen: dict[str, int] = {}
        for i, branch in enumerate(branches):
            if branch.kind == "union":
                raise SchemaError("a union may not immediately contain another union", f"{path}/{i}")
            key = branch.name if branch.kind in NAMED else branch.kind
            if key in seen:
                raise SchemaError(f"union branches {seen[key]} and {i} are both {key}", f"{path}/{i}")
            seen[key] = i
        return AvroType("union", branches=branches)

    def named(self, schema: dict[str, Any], kind: str, namespace: str, path: str) -> AvroType:
        name = schema.get("name")
        if not isinstance(name, str) or not name.strip("."):
            raise SchemaError(f'a {kind} needs a "name" string', path)
        ns = schema.get("namespace", namespace)
        if not isinstance(ns, str):
            ns = namespace
        full = name if "." in name else (f"{ns}.{name}" if ns else name)
        own_ns = full.rpartition(".")[0]
        if full in self.names:
            raise SchemaError(f"the type {full} is defined twice", path + "/name")
        raw_aliases = _strings(schema.get("aliases", []), path + "/aliases")
        node = AvroType(kind, name=full, raw_aliases=raw_aliases,
                        aliases=frozenset(a if "." in a or not own_ns else f"{own_ns}.{a}" for a in raw_aliases))
        self.names[full] = node
        if kind == "record":
            self.record_fields(node, schema, own_ns, path)
        elif kind == "enum":
            node.symbols = _strings(schema.get("symbols", _MISSING), path + "/symbols", required=True)
            if not node.symbols:
                raise SchemaError(f"enum {full} has no symbols, so no value to write or read: give it one",
                                  path + "/symbols")
            if len(set(node.symbols)) != len(node.symbols):
                raise SchemaError(f"enum {full} repeats a symbol", path + "/symbols")
            if "default" in schema:
                if schema["default"] not in node.symbols:
                    raise SchemaError(f"enum {full}: the default {schema['default']!r} is not a symbol", path + "/default")
                node.default = schema["default"]
        else:
            size = schema.get("size")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise SchemaError(f'fixed {full} needs a non-negative integer "size"', path + "/size")
            node.size = size
            node.logical = logical_annotation(schema, "fixed")
        return node

    def record_fields(self, node: AvroType, schema: dict[str, Any], namespace: str, path: str) -> None:
        fields = schema.get("fields")
        if not isinstance(fields, list):
            raise SchemaError(f'record {node.name} needs a "fields" array', path + "/fields")
        seen: set[str] = set()
        for i, spec in enumerate(fields):
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                raise SchemaError('a field is an object with a "name" string', f"{path}/fields/{i}")
            name = spec["name"]
            where = f"{path}/fields/{name}"
            if name in seen:
                raise SchemaError(f"record {node.name} has two fields named {name}", f"{path}/fields/{i}")
            if "type" not in spec:
                raise SchemaError(f'field {name} needs a "type"', where)
            seen.add(name)
            node.fields.append(AvroField(
                name, self.parse(spec["type"], namespace, where + "/type"),
                _strings(spec["aliases"], where + "/aliases") if "aliases" in spec else (),
                spec.get("default", _MISSING),
            ))


def _strings(value: Any, path: str, required: bool = False) -> tuple[str, ...]:
    if value is _MISSING and required:
        raise SchemaError("a list of strings is required here", path)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SchemaError("expected a list of strings", path)
    return tuple(value)


def logical_annotation(schema: dict[str, Any], kind: str) -> tuple[Any, ...]:
    """The logical type if it is known and valid for ``kind``; readers ignore the others (the spec).

    >>> logical_annotation({"logicalType": "decimal", "precision": 2, "scale": 5}, "bytes")
    ()
    """
    name = schema.get("logicalType")
    if not isinstance(name, str) or kind not in LOGICAL_TYPES.get(name, ()):
        return ()
    if name == "decimal":
        precision, scale = schema.get("precision"), schema.get("scale", 0)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (precision, scale)):
            return ()
        if not 0 <= scale <= precision or precision < 1:
            return ()
        if kind == "fixed" and precision > _max_fixed_precision(schema.get("size", 0)):
            return ()
        return ("decimal", precision, scale)
    if name == "uuid" and kind == "fixed" and schema.get("size") != 16:
        return ()
    if name == "duration" and schema.get("size") != 12:
        return ()
    return (name,)


def _max_fixed_precision(size: Any) -> int:
    if not isinstance(size, int) or size < 1:
        return 0
    return len(str(2 ** (8 * size - 1) - 1)) - 1


def _logical_text(logical: tuple[Any, ...]) -> str:
    if not logical:
        return "none"
    if logical[0] == "decimal":
        return f"decimal({logical[1]},{logical[2]})"
    return logical[0]


def _json_type(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------------------------------- resolution


def incompatibilities(reader: Any, writer: Any, *, reader_label: str = "", writer_label: str = "") -> list[Incompatibility]:
    """Every reason data written with ``writer`` cannot be read with ``reader``; empty when it can.

    Both are schemas in JSON form or ``AvroType`` values; paths are JSON pointers into the reader's
    schema, fields named by name: ``/fields/amount/type/scale``, ``/fields/card/type/1/fields/bin``.

    >>> incompatibilities("long", "int"), [str(p) for p in incompatibilities("int", "long")]
    ([], ['/: type changed: long data cannot be read as int'])
    """
    resolver = _Resolver()
    resolver.resolve(parse(reader), parse(writer), "")
    return [Incompatibility(p or "/", m, reader_label, writer_label) for p, m in resolver.found]


def _names_match(reader: AvroType, writer: AvroType, lenient: bool = False) -> bool:
    if reader.short_name == writer.short_name or writer.name in reader.aliases:
        return True
    # decoders such as fastavro also match an alias as written against the writer's unqualified name
    return lenient and (writer.name in reader.raw_aliases or writer.short_name in reader.raw_aliases)


def _matches(reader: AvroType, writer: AvroType, lenient: bool = False) -> bool:
    """The specification's "match" of two non-union schemas, before looking inside them.

    ``lenient`` is how decoders pick a reader union's branch: any named type by name, or by an alias
    as written; resolving against the picked branch then reports a kind or name that differs.
    """
    if writer.kind in PRIMITIVES:
        return reader.kind == writer.kind or reader.kind in PROMOTIONS.get(writer.kind, ())
    if writer.kind in NAMED:
        if reader.kind not in NAMED or not (lenient or reader.kind == writer.kind):
            return False
        if not _names_match(reader, writer, lenient):
            return False
        return not (reader.kind == writer.kind == "fixed" and reader.size != writer.size)
    return reader.kind == writer.kind


class _Resolver:
    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []
        self.done: set[tuple[int, int]] = set()  # named pairs resolved or being resolved (recursion)

    def report(self, path: str, message: str) -> None:
        self.found.append((path, message))

    def branch_for(self, reader: AvroType, writer: AvroType) -> int | None:
        # The first branch of the writer's own type, then the first it promotes to (Java's order; any
        # promotion decodes, so fastavro's first-match differs only in the value's type). A named type
        # takes the first branch a decoder would match, leniently: if that is not the right type, the
        # resolution against it reports why.
        for i, branch in enumerate(reader.branches):
            if _matches(branch, writer, lenient=True) if writer.kind in NAMED else branch.kind == writer.kind:
                return i
        for i, branch in enumerate(reader.branches):
            if _matches(branch, writer):
                return i
        return None

    def resolve(self, reader: AvroType, writer: AvroType, path: str) -> None:
        if writer.kind == "union":
            for i, branch in enumerate(writer.branches):
                if reader.kind == "union":
                    chosen = self.branch_for(reader, branch)
                    if chosen is None:
                        self.report(path, f"writer union branch {i} ({branch.describe()}) matches no branch of the "
                                          f"reader union {reader.describe()}")
                    else:
                        self.resolve(reader.branches[chosen], branch, f"{path}/{chosen}")
                elif _matches(reader, branch, lenient=True):
                    self.resolve(reader, branch, path)
                else:
                    self.report(path, f"writer union branch {i} ({branch.describe()}) cannot be read as "
                                      f"{reader.describe()}")
            return
        if reader.kind == "union":
            chosen = self.branch_for(reader, writer)
            if chosen is None:
                self.report(path, f"{writer.describe()} matches no branch of the reader union {reader.describe()}")
            else:
                self.resolve(reader.branches[chosen], writer, f"{path}/{chosen}")
            return
        if not self.same_type(reader, writer, path):
            return
        if writer.kind in NAMED:
            key = (id(reader), id(writer))
            if key in self.done:
                return
            self.done.add(key)
        match writer.kind:
            case "record":
                self.record(reader, writer, path)
            case "enum":
                self.enum(reader, writer, path)
            case "array":
                self.resolve(reader.items, writer.items, path + "/items")  # type: ignore[arg-type]
            case "map":
                self.resolve(reader.items, writer.items, path + "/values")  # type: ignore[arg-type]
            case _:
                self.logical(reader, writer, path)

    def same_type(self, reader: AvroType, writer: AvroType, path: str) -> bool:
        """Report why two non-union types do not match; True when they do."""
        if reader.kind in NAMED and writer.kind == reader.kind:
            if not _names_match(reader, writer):
                self.report(path + "/name", f"{writer.kind} {writer.name} was renamed to {reader.name}, which "
                                            f"does not list {writer.name} in its aliases")
                return False
            if writer.kind == "fixed" and reader.size != writer.size:
                self.report(path + "/size", f"fixed {reader.name} size changed from {writer.size} (writer) to "
                                            f"{reader.size} (reader)")
                return False
            return True
        if _matches(reader, writer):
            return True
        self.report(path, f"type changed: {writer.describe()} data cannot be read as {reader.describe()}")
        return False

    def record(self, reader: AvroType, writer: AvroType, path: str) -> None:
        by_name = {f.name: f for f in reader.fields}
        by_alias: dict[str, AvroField] = {}
        ambiguous: set[str] = set()
        for f in reader.fields:
            for alias in f.aliases:
                if alias in by_alias and by_alias[alias] is not f:
                    ambiguous.add(alias)
                by_alias[alias] = f
        matched: dict[str, AvroField] = {}
        for wf in writer.fields:
            rf = by_name.get(wf.name) or by_alias.get(wf.name)
            if rf is None:
                continue  # a field the reader does not know is skipped
            where = f"{path}/fields/{rf.name}"
            if wf.name not in by_name and wf.name in ambiguous:
                self.report(where + "/aliases", f"writer field {wf.name} is an alias of several reader fields")
            elif rf.name in matched:
                self.report(where, f"reader field {rf.name} matches both writer fields {matched[rf.name].name} "
                                   f"and {wf.name} (by name or alias)")
                continue
            matched[rf.name] = wf
            self.resolve(rf.type, wf.type, where + "/type")
        for rf in reader.fields:
            if rf.name in matched:
                continue
            where = f"{path}/fields/{rf.name}"
            if not rf.has_default:
                self.report(where, f"field {rf.name} is not in the writer's schema and has no default")
            elif (problem := default_problem(rf.type, rf.default)) is not None:
                self.report(where + "/default", f"field {rf.name} is not in the writer's schema and its default "
                                                f"is invalid: {problem}")

    def enum(self, reader: AvroType, writer: AvroType, path: str) -> None:
        missing = [s for s in writer.symbols if s not in reader.symbols]
        if missing and reader.default is _MISSING:
            self.report(path + "/symbols", f"enum {reader.name} lacks writer symbol{'s' * (len(missing) > 1)} "
                                           f"{', '.join(missing)} and has no default to read them as")

    def logical(self, reader: AvroType, writer: AvroType, path: str) -> None:
        r, w = reader.logical, writer.logical
        if r == w or not r or not w:  # logical types resolve by their underlying type
            return
        if r and w and r[0] == w[0] == "decimal":
            if r[1] != w[1]:
                self.report(path + "/precision", f"decimal precision changed from {w[1]} (writer) to {r[1]} (reader)")
            if r[2] != w[2]:
                self.report(path + "/scale", f"decimal scale changed from {w[2]} (writer) to {r[2]} (reader)")
            return
        self.report(path + "/logicalType", f"logical type changed from {_logical_text(w)} (writer) to "
                                           f"{_logical_text(r)} (reader), which changes what the value means")


def default_problem(schema: Any, value: Any) -> str | None:
    """Why ``value`` is not a valid JSON default for ``schema``, or None when it is.

    A union's default may match any of its branches (Avro 1.12; earlier versions required the first).

    >>> default_problem(["null", "string"], None), default_problem({"type": "fixed", "name": "F", "size": 2}, "abc")
    (None, 'fixed F needs a string of 2 characters, not 3')
    """
    t = parse(schema)
    kind = t.kind
    if kind == "union":
        problems = [default_problem(b, value) for b in t.branches]
        return None if any(p is None for p in problems) else f"{value!r} is not a valid {t.describe()}"
    ok: bool
    if kind == "null":
        ok = value is None
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind in ("int", "long"):
        ok = isinstance(value, int) and not isinstance(value, bool) and -_INT_RANGE[kind] <= value < _INT_RANGE[kind]
    elif kind in ("float", "double"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind == "string":
        ok = isinstance(value, str)
    elif kind in ("bytes", "fixed"):
        ok = isinstance(value, str) and all(ord(c) < 256 for c in value)
        if ok and kind == "fixed" and len(value) != t.size:
            return f"fixed {t.name} needs a string of {t.size} characters, not {len(value)}"
    elif kind == "enum":
        ok = value in t.symbols
    elif kind in ("array", "map"):
        ok = isinstance(value, list if kind == "array" else dict)
        if ok:
            for item in value if kind == "array" else value.values():
                if (problem := default_problem(t.items, item)) is not None:
                    return problem
    else:
        if not isinstance(value, dict):
            return f"record {t.name} needs an object, not {_json_type(value)}"
        for f in t.fields:
            if f.name in value:
                if (problem := default_problem(f.type, value[f.name])) is not None:
                    return f"{f.name}: {problem}"
            elif not f.has_default:
                return f"record {t.name} needs a value for field {f.name}"
        return None
    return None if ok else f"{value!r} is not a valid {t.describe()}"


# ---------------------------------------------------------------------------------------------- modes


Direction = Literal["backward", "forward"]


def mode_checks(mode: str, registered_count: int) -> list[tuple[int, Direction]]:
    """(index into the registered versions, direction) pairs that ``mode`` requires, latest first.

    >>> mode_checks("FULL", 3), mode_checks("FORWARD_TRANSITIVE", 2), mode_checks("NONE", 4)
    ([(2, 'backward'), (2, 'forward')], [(1, 'forward'), (0, 'forward')], [])
    """
    normal = mode.upper()
    if normal not in MODES:
        raise ValueError(f"unknown compatibility mode {mode!r}: one of {', '.join(MODES)}")
    if normal == "NONE" or registered_count == 0:
        return []
    against = range(registered_count - 1, -1, -1) if normal.endswith("_TRANSITIVE") else [registered_count - 1]
    directions: list[Direction] = []
    if normal.startswith(("BACKWARD", "FULL")):
        directions.append("backward")
    if normal.startswith(("FORWARD", "FULL")):
        directions.append("forward")
    return [(i, d) for i in against for d in directions]


def check_mode(
    mode: str, new: Any, registered: Sequence[tuple[str, Any]], *, new_label: str = "new"
) -> list[Incompatibility]:
    """Whether ``new`` may follow the ``registered`` versions (oldest first, as (label, schema)) under
    a registry compatibility mode: BACKWARD means the new schema reads data written with the latest
    version, FORWARD that the latest version reads data written with the new one, FULL both;
    the ``_TRANSITIVE`` modes check every registered version, NONE nothing.
    """
    parsed_new = parse(new)
    parsed = [(label, parse(schema)) for label, schema in registered]
    out: list[Incompatibility] = []
    for index, direction in mode_checks(mode, len(parsed)):
        label, old = parsed[index]
        if direction == "backward":
            out += incompatibilities(parsed_new, old, reader_label=new_label, writer_label=label)
        else:
            out += incompatibilities(old, parsed_new, reader_label=label, writer_label=new_label)
    return out


def pairs(mode: str, labels: Iterable[str], new_label: str) -> list[tuple[str, str]]:
    """The (reader, writer) label pairs ``mode`` checks, in the order ``check_mode`` checks them."""
    names = list(labels)
    return [(new_label, names[i]) if d == "backward" else (names[i], new_label) for i, d in mode_checks(mode, len(names))]
