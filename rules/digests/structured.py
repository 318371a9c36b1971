"""YAML, JSON, TOML and HCL by parsed structure: formatting, comments and key order do not count."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from typing import Any

from graphbuild import Analyzer

__all__ = ["HCL", "JSON", "TOML", "YAML", "analyze_hcl", "analyze_json", "analyze_toml", "analyze_yaml", "walk"]


def analyze_yaml(data: bytes) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return {"value": yaml.load(data, Loader=loader), "error": None}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        return {"value": None, "error": f"{where}{exc}"}


def analyze_json(data: bytes) -> dict[str, Any]:
    try:
        return {"value": json.loads(data), "error": None}
    except (ValueError, UnicodeDecodeError) as exc:
        return {"value": None, "error": str(exc)}


def analyze_toml(data: bytes) -> dict[str, Any]:
    try:
        return {"value": tomllib.loads(data.decode("utf-8")), "error": None}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return {"value": None, "error": str(exc)}


def analyze_hcl(data: bytes) -> dict[str, Any]:
    """Terraform HCL as python-hcl2 parses it: blocks keyed ``resource.aws_s3_bucket.lake``."""
    import hcl2

    try:
        tree = hcl2.loads(data.decode("utf-8"))
    except Exception as exc:  # python-hcl2 raises lark errors of several types
        return {"blocks": {}, "error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
    return {"blocks": _blocks(tree), "error": None}


def walk(value: Any) -> Iterator[Any]:
    """Every value of a parsed document, depth first (the document itself first)."""
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, dict):
        # python-hcl2 annotates with __is_block__, __comments__ and the like: not meaning
        return {_unquote(k): _unquote(v) for k, v in value.items() if not (k.startswith("__") and k.endswith("__"))}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


def _blocks(tree: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for block_type, entries in tree.items():
        if not isinstance(entries, list):
            out[block_type] = _unquote(entries)
            continue
        for entry in entries:
            _flatten(block_type, _unquote(entry), out)
    return out


def _flatten(prefix: str, entry: Any, out: dict[str, Any]) -> None:
    # A block's labels nest as single-key dicts until the body; the body is the dict with attributes.
    if isinstance(entry, dict) and len(entry) == 1 and prefix.count(".") < _LABELS.get(prefix.split(".")[0], 0):
        (label, body), = entry.items()
        _flatten(f"{prefix}.{label}", body, out)
        return
    if prefix in out:  # repeated unlabelled blocks (e.g. two `terraform {}`) are merged in order
        out[prefix] = [*(out[prefix] if isinstance(out[prefix], list) else [out[prefix]]), entry]
    else:
        out[prefix] = entry


_LABELS = {"resource": 2, "data": 2, "module": 1, "variable": 1, "output": 1, "provider": 1, "locals": 0, "terraform": 0}

YAML = Analyzer("yaml", "1", analyze_yaml)
JSON = Analyzer("json", "1", analyze_json)
TOML = Analyzer("toml", "1", analyze_toml)
HCL = Analyzer("hcl", "2", analyze_hcl)
