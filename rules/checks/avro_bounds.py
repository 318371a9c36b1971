"""The bounds of an Avro schema: how deep its types may nest, checked without recursing.

Every walk over a schema (parsing, resolution, record generation, fastavro's own) recurses once per
level of nesting, so a schema nests at most ``MAX_DEPTH`` types deep: a record in a record's field,
an array's items, a map's values, a union's branch, a named type used by reference each count one
level. ``check_depth`` reads the JSON form before anything recurses into it, ``check_type_depth``
the parsed types (a chain of named references is deep as a type although shallow as written)::

    >>> check_depth({"type": "array", "items": {"type": "array", "items": "long"}})
    >>> str(SchemaError("an empty union [] has no value", "/fields/a/type"))
    '/fields/a/type: an empty union [] has no value'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphbuild.errors import GraphbuildError

if TYPE_CHECKING:
    from rules.checks.avro_compat import AvroType

__all__ = ["MAX_DEPTH", "SchemaError", "check_depth", "check_type_depth"]

MAX_DEPTH = 100  # nested types; every walk over a schema recurses at most this deep


class SchemaError(GraphbuildError, ValueError):
    """The input is not a valid Avro schema; ``path`` points at the offending part."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path or "/"
        self.shown = f"{self.path}: {message}"

    def __str__(self) -> str:
        return self.shown


def _too_deep(path: str, through: str = "") -> SchemaError:
    where = f" (through the named type {through})" if through else ""
    error = SchemaError(f"the schema nests types more than {MAX_DEPTH} levels deep{where}, the limit: flatten it "
                        f"(records in records, arrays, maps and unions each count one level)", path)
    if len(error.path) > 80:  # the full pointer stays in .path, for the line
        error.shown = f".../{error.path[-60:].partition('/')[2]}: {error.message}"
    return error


def _type_children(schema: Any, path: str) -> list[tuple[Any, str]]:
    """The nested schemas of one schema in JSON form, with their paths (what ``_Parser`` descends into)."""
    if isinstance(schema, list):
        return [(branch, f"{path}/{i}") for i, branch in enumerate(schema)]
    if not isinstance(schema, dict):
        return []
    kind = schema.get("type")
    if isinstance(kind, (dict, list)):
        return [(kind, path + "/type")]
    children = [(schema[key], f"{path}/{key}") for key in ("items", "values") if key in schema]
    fields = schema.get("fields")
    if isinstance(fields, list):
        children += [(spec["type"], f"{path}/fields/{spec.get('name')}/type")
                     for spec in fields if isinstance(spec, dict) and "type" in spec]
    return children


def check_depth(schema: Any) -> None:
    """Refuse a schema (JSON form) written more than ``MAX_DEPTH`` types deep, before anything recurses
    into it: a ``SchemaError`` naming the limit. Iterative, so any depth is safe to check.

    >>> check_depth({"type": "array", "items": "long"})
    """
    stack = [(schema, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep(path)
        stack += [(child, where, depth + 1) for child, where in _type_children(node, path)]


def _nested(node: AvroType) -> tuple[AvroType, ...] | list[AvroType]:
    if node.fields:
        return [f.type for f in node.fields]
    return node.branches or ((node.items,) if node.items is not None else ())


def check_type_depth(root: AvroType) -> None:
    """Refuse a parsed schema whose types nest more than ``MAX_DEPTH`` deep through named references.

    A chain of records each naming the one defined before it is shallow as written but deep as a
    type; a reference back to an enclosing type (recursion) does not count. Linear: one depth per node.
    """
    depth: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[AvroType, bool]] = [(root, False)]
    while stack:
        node, is_done = stack.pop()
        key = id(node)
        if is_done:
            open_.discard(key)
            inner = [depth.get(id(c), 0) for c in _nested(node) if id(c) not in open_]
            depth[key] = 1 + max(inner, default=0)
            if depth[key] > MAX_DEPTH:
                raise _too_deep("", node.name)
        elif key not in depth and key not in open_:
            open_.add(key)
            stack.append((node, True))
            stack += [(c, False) for c in _nested(node) if _nested(c) and id(c) not in depth and id(c) not in open_]
