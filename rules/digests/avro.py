"""Avro schemas by meaning: canonical form plus defaults, aliases, order and logical types; docs apart.

The Parsing Canonical Form drops defaults, aliases and logical types, which all change what readers
see, so this keeps them; ``doc`` goes to the metadata part.

>>> facts = analyze_avro(b'{"type":"record","name":"P","namespace":"x","doc":"d",'
...                      b'"fields":[{"name":"id","type":"string","doc":"the id"}]}')
>>> facts["fields"]["id"], facts["docs"]
({'type': 'string'}, {'': 'd', 'id': 'the id'})
"""

from __future__ import annotations

import json
from typing import Any

from graphbuild import Analyzer
from rules.checks.avro_bounds import SchemaError, check_depth

__all__ = ["AVRO", "analyze_avro", "canonical_type"]

_KEEP = ("type", "name", "namespace", "aliases", "symbols", "items", "values", "size", "logicalType", "precision", "scale", "default", "order")


def canonical_type(schema: Any, namespace: str = "", docs: dict[str, str] | None = None, path: str = "") -> Any:
    """A schema (or type) reduced to what changes its meaning; docs are collected into ``docs``."""
    docs = {} if docs is None else docs
    if isinstance(schema, list):
        return [canonical_type(s, namespace, docs, path) for s in schema]
    if isinstance(schema, str):
        return schema
    if not isinstance(schema, dict):
        return schema
    if "doc" in schema:
        docs[path] = schema["doc"]
    ns = schema.get("namespace", namespace)
    out: dict[str, Any] = {}
    for key in _KEEP:
        if key not in schema:
            continue
        value = schema[key]
        if key in ("items", "values"):
            value = canonical_type(value, ns, docs, f"{path}/{key}")
        elif key == "type":
            value = canonical_type(value, ns, docs, path)
        elif key == "aliases":
            value = _sorted_names(value)
        out[key] = value
    if isinstance(schema.get("fields"), list):
        out["fields"] = [_field(f, ns, docs, path) for f in schema["fields"]]
    extra = {k: v for k, v in schema.items() if k not in (*_KEEP, "fields", "doc") or (k == "fields" and "fields" not in out)}
    if extra:
        out["properties"] = extra
    return out


def _sorted_names(value: Any) -> Any:
    """Aliases in a stable order; anything but a list of strings is kept as written (the check refuses it)."""
    return sorted(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else value


def _field(field: Any, namespace: str, docs: dict[str, str], path: str) -> Any:
    if not isinstance(field, dict):
        return field  # not a field: the check names the error, the digest keeps the value
    name = field.get("name", "")
    inner = f"{path}/{name}".lstrip("/")
    if "doc" in field:
        docs[inner] = field["doc"]
    out = {k: field[k] for k in ("name", "default", "order") if k in field}
    if "aliases" in field:
        out["aliases"] = _sorted_names(field["aliases"])
    out["type"] = canonical_type(field.get("type"), namespace, docs, inner)
    return out


def analyze_avro(data: bytes) -> dict[str, Any]:
    """The schema's identity, its top-level fields by name (ordered list kept too) and docs."""
    try:
        schema = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        return {"schema": None, "fields": {}, "order": [], "docs": {}, "error": f"invalid JSON: {exc}"}
    except RecursionError:
        return {"schema": None, "fields": {}, "order": [], "docs": {}, "error": "invalid JSON: nested too deeply"}
    try:
        check_depth(schema)  # the walks below recurse
    except SchemaError as exc:
        return {"schema": None, "fields": {}, "order": [], "docs": {}, "error": str(exc)}
    docs: dict[str, str] = {}
    canonical = canonical_type(schema, "", docs, "")
    fields = {}
    order = []
    fields_list = canonical.get("fields") if isinstance(canonical, dict) else None
    if isinstance(fields_list, list) and all(isinstance(f, dict) and isinstance(f.get("name", ""), str) for f in fields_list):
        for field in fields_list:
            name = field.get("name", "")
            order.append(name)
            fields[name] = {k: v for k, v in field.items() if k != "name"}
        head = {k: v for k, v in canonical.items() if k != "fields"}
    else:
        head = canonical
    return {"schema": head, "fields": fields, "order": order, "docs": docs, "error": None}


AVRO = Analyzer("avro", "1", analyze_avro)
