"""The safe BUILD reader: BUILD files are parsed with ``ast`` and never executed.

A BUILD file is a sequence of calls of registered target types whose arguments are keyword
literals: strings, numbers, booleans, None, lists and dicts of those.

>>> decls = parse_build_file("warehouse/BUILD", 'sql_models(tags=["finance"])\\n')
>>> decls[0].type_name, decls[0].kwargs["tags"], decls[0].line
('sql_models', ('finance',), 1)
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from graphbuild.errors import BuildFileError
from graphbuild.values import FrozenDict, freeze

__all__ = ["Declaration", "parse_build_file", "BUILD_FILE_NAMES"]

BUILD_FILE_NAMES = frozenset({"BUILD", "BUILD.graphbuild"})
_MAX_BYTES = 1_000_000
_FIX = "BUILD files hold only calls like kind(name=\"x\", deps=[...]) with literal keyword arguments"


@dataclass(frozen=True, slots=True)
class Declaration:
    """One call in a BUILD file, before its rule expands it into targets."""

    type_name: str
    kwargs: FrozenDict
    file: str
    line: int
    col: int

    @property
    def package(self) -> str:
        return self.file.rpartition("/")[0]


def parse_build_file(path: str, text: str | bytes) -> tuple[Declaration, ...]:
    """Parse a BUILD file into declarations; anything but literal calls is a BuildFileError."""
    if isinstance(text, bytes):
        if len(text) > _MAX_BYTES:
            raise BuildFileError(f"BUILD file is larger than {_MAX_BYTES} bytes", file=path, fix=_FIX)
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BuildFileError(f"not UTF-8 text ({exc.reason})", file=path, fix="save the file as UTF-8") from None
    if len(text) > _MAX_BYTES:
        raise BuildFileError(f"BUILD file is larger than {_MAX_BYTES} characters", file=path, fix=_FIX)
    try:
        module = ast.parse(text, filename=path, mode="exec")
    except SyntaxError as exc:
        raise BuildFileError(
            f"syntax error: {exc.msg}", file=path, line=exc.lineno, col=exc.offset, fix=_FIX
        ) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise BuildFileError(f"cannot parse: {type(exc).__name__}", file=path, fix=_FIX) from None
    return tuple(_declaration(path, stmt) for stmt in module.body)


def _declaration(path: str, stmt: ast.stmt) -> Declaration:
    where = {"file": path, "line": stmt.lineno, "col": stmt.col_offset + 1}
    if not isinstance(stmt, ast.Expr) or not isinstance(stmt.value, ast.Call):
        raise BuildFileError(f"{_describe(stmt)} is not allowed in a BUILD file", fix=_FIX, **where)
    call = stmt.value
    if not isinstance(call.func, ast.Name):
        raise BuildFileError(
            f"{_describe(call.func)} is not allowed as a target type", fix="call a target type by its plain name", **where
        )
    if call.args:
        raise BuildFileError(
            f"{call.func.id}() takes keyword arguments only",
            fix=f'write {call.func.id}(name="...", ...)',
            **where,
        )
    kwargs: dict[str, Any] = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            raise BuildFileError("**kwargs is not allowed", fix="spell each argument out", **where)
        if keyword.arg in kwargs:
            raise BuildFileError(
                f"argument {keyword.arg!r} is given twice",
                file=path,
                line=keyword.lineno,
                col=keyword.col_offset + 1,
                fix="keep one",
            )
        kwargs[keyword.arg] = _literal(path, keyword.value, depth=0)
    return Declaration(call.func.id, FrozenDict({k: freeze(v) for k, v in kwargs.items()}), **where)


def _literal(path: str, node: ast.expr, *, depth: int) -> Any:
    if depth > 50:
        raise BuildFileError("literal nested deeper than 50 levels", file=path, line=node.lineno, fix=_FIX)
    match node:
        case ast.Constant(value=value) if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        case ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=value)) if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value
        case ast.List(elts=elts) | ast.Tuple(elts=elts):
            return [_literal(path, e, depth=depth + 1) for e in elts]
        case ast.Dict(keys=keys, values=values):
            result: dict[str, Any] = {}
            for key, value in zip(keys, values):
                if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                    raise BuildFileError(
                        "dict keys must be string literals",
                        file=path,
                        line=node.lineno,
                        col=node.col_offset + 1,
                        fix=_FIX,
                    )
                result[key.value] = _literal(path, value, depth=depth + 1)
            return result
    raise BuildFileError(
        f"{_describe(node)} is not a literal",
        file=path,
        line=getattr(node, "lineno", None),
        col=getattr(node, "col_offset", -1) + 1,
        fix="use a string, number, boolean, None, list or dict",
    )


def _describe(node: ast.AST) -> str:
    names = {
        ast.Import: "an import",
        ast.ImportFrom: "an import",
        ast.FunctionDef: "a function definition",
        ast.AsyncFunctionDef: "a function definition",
        ast.ClassDef: "a class definition",
        ast.Assign: "an assignment",
        ast.AugAssign: "an assignment",
        ast.AnnAssign: "an assignment",
        ast.For: "a loop",
        ast.While: "a loop",
        ast.If: "an if statement",
        ast.With: "a with statement",
        ast.Name: "a name",
        ast.Attribute: "attribute access",
        ast.JoinedStr: "an f-string",
        ast.Call: "a call",
        ast.BinOp: "an operator expression",
        ast.Lambda: "a lambda",
    }
    return names.get(type(node), f"a {type(node).__name__} node")
