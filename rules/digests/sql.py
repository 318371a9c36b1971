"""SQL with Jinja (dbt models) through sqlglot: insensitive to whitespace, comments and keyword case.

Jinja blocks are cut out first: ``{# comments #}`` vanish, ``{{ expressions }}`` and ``{% statements %}``
are kept as whitespace-normalised text and stand in the SQL as placeholder identifiers, so the SQL
tokenizer (never a renderer: nothing is executed) sees plain SQL.

>>> a = analyze_sql(b"select id, amount from {{ ref('stg_payments') }} -- all rows")
>>> b = analyze_sql(b"SELECT id,\\n  amount\\nFROM {{ref('stg_payments')}}")
>>> a["body"] == b["body"], a["refs"], a["columns"]
(True, [['stg_payments', 1]], {'id': 'id', 'amount': 'amount'})
"""

from __future__ import annotations

import ast
import hashlib
import re
from functools import partial
from typing import Any

from graphbuild import Analyzer

__all__ = ["analyze_sql", "sql_analyzer"]

_JINJA = re.compile(r"\{\{-?(?P<expr>.*?)-?\}\}|\{%-?(?P<stmt>.*?)-?%\}|\{#.*?#\}", re.S)
_REF = re.compile(r"""\bref\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]+)['"]\s*)?(?:,\s*v(?:ersion)?\s*=\s*[^)]*)?\)""")
_SOURCE = re.compile(r"""\bsource\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)""")
_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_CONFIG = re.compile(r"^\s*config\s*\(", re.S)
_BUILTINS = frozenset(
    "ref source config var env_var is_incremental this adapter return log run_query load_result "
    "statement set range dict list zip modules exceptions fromjson tojson print".split()
)
_STRING = re.compile(r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")


def _normalize_jinja(text: str) -> str:
    """Collapse whitespace outside string literals; unify quotes."""
    parts = _STRING.split(text.strip())
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append("'" + part[1:-1] + "'")
        else:
            part = re.sub(r"\s+", " ", part)
            part = re.sub(r"\s*([()\[\],.|=:+\-*/<>!])\s*", r"\1", part)
            out.append(part)
    return "".join(out)


def _config(expr: str) -> dict[str, Any] | None:
    try:
        call = ast.parse(expr.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(call, ast.Call):
        return None
    out: dict[str, Any] = {}
    for keyword in call.keywords:
        try:
            out[str(keyword.arg)] = ast.literal_eval(keyword.value)
        except (ValueError, SyntaxError, TypeError, RecursionError):
            out[str(keyword.arg)] = _normalize_jinja(ast.unparse(keyword.value))
    return out


def analyze_sql(data: bytes, dialect: str = "duckdb") -> dict[str, Any]:
    """Facts of a Jinja-SQL file: normalised body digest, config, refs, sources, macro calls, columns."""
    text = data.decode("utf-8", errors="replace")
    jinja: list[str] = []
    config: dict[str, Any] = {}
    refs: list[list[Any]] = []
    sources: list[list[Any]] = []
    macros: set[str] = set()
    for_parse: list[str] = []
    for_tokens: list[str] = []
    last = 0
    for match in _JINJA.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        for_parse.append(text[last : match.start()])
        for_tokens.append(text[last : match.start()])
        last = match.end()
        body = match["expr"] if match["expr"] is not None else match["stmt"]
        if body is None:  # a Jinja comment
            continue
        if match["expr"] is not None and _CONFIG.match(body):
            config.update(_config(body) or {"<unparsed>": _normalize_jinja(body)})
            continue
        refs += [[m[2] or m[1], line] for m in _REF.finditer(body)]
        sources += [[m[1], m[2], line] for m in _SOURCE.finditer(body)]
        macros |= {m[1] for m in _CALL.finditer(body) if m[1] not in _BUILTINS}
        placeholder = f"__jinja_{len(jinja)}__"
        jinja.append(("{{" if match["expr"] is not None else "{%") + _normalize_jinja(body))
        for_tokens.append(f" {placeholder} ")
        if match["expr"] is not None:
            for_parse.append(f" {placeholder} ")
    for_parse.append(text[last:])
    for_tokens.append(text[last:])
    body_digest, error = _token_digest("".join(for_tokens), jinja, dialect)
    return {
        "body": body_digest,
        "config": config,
        "refs": refs,
        "sources": sources,
        "macros": sorted(macros),
        "columns": _columns("".join(for_parse), jinja, dialect),
        "error": error,
    }


def _token_digest(sql: str, jinja: list[str], dialect: str) -> tuple[str, str | None]:
    import sqlglot
    from sqlglot.tokens import TokenType

    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except Exception as exc:  # sqlglot raises TokenError and others on unreadable SQL
        return hashlib.sha256(" ".join(sql.split()).encode()).hexdigest(), f"cannot tokenize: {exc}"
    keep_case = {TokenType.VAR, TokenType.STRING, TokenType.IDENTIFIER, TokenType.NUMBER}
    h = hashlib.sha256()
    for i, token in enumerate(tokens):
        text = token.text
        is_call = token.token_type == TokenType.VAR and i + 1 < len(tokens) and tokens[i + 1].token_type == TokenType.L_PAREN
        if text.startswith("__jinja_") and text.endswith("__"):
            text = jinja[int(text[8:-2])]
        elif token.token_type not in keep_case or is_call:  # function names are case-insensitive: cast(), upper()
            text = text.upper()
        h.update(f"{token.token_type.name}\x1f{text}\x1e".encode())
    return h.hexdigest(), None


def _columns(sql: str, jinja: list[str], dialect: str) -> dict[str, str] | None:
    """Output columns of the top-level query, name -> normalised expression; None if unparseable."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except Exception:  # any parse failure means "columns unknown", never a wrong answer
        return None
    if not isinstance(tree, exp.Query):
        return None
    select = tree
    while isinstance(select, exp.SetOperation):
        select = select.left
    if not isinstance(select, exp.Select):
        return None
    out: dict[str, str] = {}
    for projection in select.expressions:
        name = projection.alias_or_name or projection.sql(dialect=dialect, comments=False)
        text = projection.sql(dialect=dialect, comments=False)
        for i, body in enumerate(jinja):
            text = text.replace(f"__jinja_{i}__", body)
        out[name] = text
    return out


def sql_analyzer(dialect: str) -> Analyzer:
    return Analyzer(f"sql-{dialect}", "3", partial(analyze_sql, dialect=dialect))
