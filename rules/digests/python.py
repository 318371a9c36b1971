"""Python sources through ``ast``: digests without comments and docstrings, imports, module names."""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from typing import Any

from graphbuild import Analyzer, Origin, Requirement

__all__ = ["PYTHON", "analyze_python", "import_requirements", "module_name", "normalized_dump", "strip_docstrings"]


def strip_docstrings(tree: ast.AST) -> ast.AST:
    """Remove module, class and function docstrings in place (they are documentation, not behaviour)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def normalized_dump(node: ast.AST) -> str:
    return ast.dump(node, annotate_fields=True, include_attributes=False)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def analyze_python(data: bytes) -> dict[str, Any]:
    """The digest (AST without docstrings) and the imports (module, line, level) of a Python file."""
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        return {"digest": hashlib.sha256(data).hexdigest(), "imports": [], "error": f"line {line}: {exc}"}
    imports: list[tuple[str, int, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports += [(alias.name, node.lineno, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            imports.append((base, node.lineno, node.level))
            imports += [(f"{base}.{alias.name}" if base else alias.name, node.lineno, node.level) for alias in node.names]
    return {"digest": _sha(normalized_dump(strip_docstrings(tree))), "imports": sorted(set(imports)), "error": None}


PYTHON = Analyzer("python", "1", analyze_python)


def module_name(path: str, roots: Iterable[str]) -> str | None:
    """The importable module name of a file under one of the source roots (longest root wins)."""
    best = None
    for root in roots:
        prefix = root.rstrip("/") + "/" if root not in ("", ".") else ""
        if path.startswith(prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    if best is None or not path.endswith(".py"):
        return None
    parts = path[len(best) : -3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) if parts and all(p.isidentifier() for p in parts) else None


def import_requirements(path: str, facts: dict[str, Any], roots: Iterable[str]) -> list[Requirement]:
    """Optional ``python:<module>`` requirements for every import (and its parent packages)."""
    key = (path, tuple(roots), facts["digest"])
    if key not in _REQUIREMENTS:  # both revisions of a comparison share unchanged files
        _REQUIREMENTS[key] = _import_requirements(path, facts, key[1])
    return list(_REQUIREMENTS[key])


_REQUIREMENTS: dict[tuple[str, tuple[str, ...], str], list[Requirement]] = {}


def _import_requirements(path: str, facts: dict[str, Any], roots: tuple[str, ...]) -> list[Requirement]:
    own = module_name(path, roots) or ""
    package = own if path.endswith("__init__.py") else own.rpartition(".")[0]
    out: dict[str, Requirement] = {}
    for name, line, level in facts["imports"]:
        if level:
            base_parts = package.split(".") if package else []
            base_parts = base_parts[: len(base_parts) - (level - 1)] if level > 1 else base_parts
            name = ".".join([*base_parts, name] if name else base_parts)
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            module = ".".join(parts[:i])
            if module and module != own:
                out.setdefault(module, Requirement(f"python:{module}", Origin(path, line, f"import {name}"), True))
    return list(out.values())
