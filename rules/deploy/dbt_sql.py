"""What a dbt model's SQL says, for the change classifier: its output columns, what it reads, its frame.

Jinja is replaced by placeholders (``ref``/``source`` calls by the relation they name) and the rest is
parsed with sqlglot; anything that cannot be parsed gives ``None`` and the classifier takes the safe side.

>>> sorted(output_columns("select id, amount * 100 as amount_cents from {{ ref('stg_payments') }}"))
['amount_cents', 'id']
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Reads", "cast_type", "data_type", "frame_of", "output_columns", "reads_of"]

_JINJA = re.compile(r"\{\{-?(?P<expr>.*?)-?\}\}|\{%-?(?P<stmt>.*?)-?%\}|\{#.*?#\}", re.S)
_REF = re.compile(r"""^\s*ref\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]+)['"]\s*)?\)\s*$""")
_SOURCE = re.compile(r"""^\s*source\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)\s*$""")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Reads:
    """What a downstream model reads of one upstream: column names (None: all, unknown) and ``select *``."""

    names: frozenset[str] | None = None
    star: bool = False


@dataclass(frozen=True, slots=True)
class _Sql:
    tree: Any  # sqlglot expression, None when unparseable
    statements: tuple[str, ...]  # normalised {% %} tags, part of the frame
    jinja_words: frozenset[str]  # words inside {{ }} other than ref/source: macro arguments may name columns


def _placeholder(body: str) -> str:
    if match := _REF.match(body):
        return f"__ref__{match[2] or match[1]}"
    if match := _SOURCE.match(body):
        return f"__source__{match[1]}__{match[2]}"
    if body.strip() == "this":
        return "__this__"
    return "__jinja_" + hashlib.sha256(" ".join(body.split()).encode()).hexdigest()[:12] + "__"


def _parse_one(text: str, dialect: str = "duckdb") -> Any | None:
    """sqlglot's tree of ``text``, or None when sqlglot cannot read it.

    Unreadable is sqlglot's own error, nesting too deep for it, or its crash on odd input (sqlglot 30
    raises AttributeError on ``{:}``). Only sqlglot's call is guarded: an error of ours propagates.
    """
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        return sqlglot.parse_one(text, read=dialect)
    except (SqlglotError, RecursionError, AttributeError):
        return None


def _parse(text: str, dialect: str = "duckdb") -> _Sql:
    from sqlglot import exp

    statements, words, out, last = [], set(), [], 0
    for match in _JINJA.finditer(text):
        out.append(text[last : match.start()])
        last = match.end()
        if match["expr"] is not None:
            body = match["expr"]
            if body.strip().startswith("config("):
                statements.append(" ".join(body.split()))
                continue
            name = _placeholder(body)
            if name.startswith("__jinja_"):
                words |= {w.lower() for w in _WORD.findall(body)}
            out.append(f" {name} ")
        elif match["stmt"] is not None:
            statements.append(" ".join(match["stmt"].split()))
            words |= {w.lower() for w in _WORD.findall(match["stmt"])}
            out.append(" ")
    out.append(text[last:])
    tree = _parse_one("".join(out), dialect)  # None: every answer from it is the conservative one
    if tree is not None and not isinstance(tree, exp.Query):
        tree = None
    return _Sql(tree, tuple(statements), frozenset(words))


def _ctes(tree: Any) -> dict[str, Any]:
    from sqlglot import exp

    return {cte.alias_or_name.lower(): cte.this for cte in tree.find_all(exp.CTE)}


def _first_select(query: Any) -> Any:
    from sqlglot import exp

    while isinstance(query, exp.SetOperation):
        query = query.left
    return query if isinstance(query, exp.Select) else None


def _sources_of(select: Any) -> dict[str, Any]:
    """alias -> the table or subquery a select reads (FROM and JOINs)."""
    from sqlglot import exp

    found: dict[str, Any] = {}
    items = [select.args.get("from_") or select.args.get("from")] + list(select.args.get("joins") or [])
    for item in items:
        if item is None:
            continue
        node = item.this
        if isinstance(node, (exp.Table, exp.Subquery)):
            found[node.alias_or_name.lower()] = node
    return found


def _star_targets(select: Any, ctes: Mapping[str, Any], depth: int = 0) -> set[str] | None:
    """Placeholders (``__ref__x``) whose columns pass through this select's ``*``; None if unknowable."""
    from sqlglot import exp

    if select is None or depth > 20:
        return None
    sources = _sources_of(select)
    found: set[str] = set()
    for projection in select.expressions:
        if isinstance(projection, exp.Star):
            picked = list(sources.values())
        elif isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
            picked = [sources[projection.table.lower()]] if projection.table.lower() in sources else []
        else:
            continue
        for node in picked:
            if isinstance(node, exp.Subquery):
                inner = _star_targets(_first_select(node.this), ctes, depth + 1)
            elif node.name.lower() in ctes and not node.args.get("db"):
                inner = _star_targets(_first_select(ctes[node.name.lower()]), ctes, depth + 1)
            else:
                inner = {node.name}
            if inner is None:
                return None
            found |= inner
    return found


def output_columns(text: str) -> dict[str, dict[str, str]] | None:
    """The final select's columns, ``select *`` over CTEs followed to their projections; None if unknowable."""
    sql = _parse(text)
    if sql.tree is None:
        return None
    ctes = _ctes(sql.tree)

    def resolve(select: Any, depth: int) -> dict[str, dict[str, str]] | None:
        from sqlglot import exp

        if select is None or depth > 20:
            return None
        sources = _sources_of(select)
        out: dict[str, dict[str, str]] = {}
        for projection in select.expressions:
            star = isinstance(projection, exp.Star) or (isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star))
            if not star:
                out[projection.alias_or_name.lower()] = _column(projection)
                continue
            picked = list(sources.values()) if isinstance(projection, exp.Star) else [sources.get(projection.table.lower())]
            for node in picked:
                if isinstance(node, exp.Subquery):
                    inner = resolve(_first_select(node.this), depth + 1)
                elif isinstance(node, exp.Table) and node.name.lower() in ctes and not node.args.get("db"):
                    inner = resolve(_first_select(ctes[node.name.lower()]), depth + 1)
                else:
                    return None  # columns of a ref or source: not in this file
                if inner is None:
                    return None
                out.update(inner)
        return out

    return resolve(_first_select(sql.tree), 0)


def _column(projection: Any) -> dict[str, str]:
    """One output column: its expression and, when it is a top-level cast, the type it casts to."""
    found = {"expression": projection.sql(dialect="duckdb", comments=False)}
    if (cast := _cast_type(projection)) is not None:
        found["data_type"] = cast
    return found


def _cast_type(projection: Any) -> str | None:
    from sqlglot import exp

    body = projection.this if isinstance(projection, exp.Alias) else projection
    return body.to.sql(dialect="duckdb") if isinstance(body, exp.Cast) else None  # TryCast is a Cast


def cast_type(expression: str) -> str | None:
    """The type a column expression casts to at its top level, or None (not a cast, or unreadable).

    >>> cast_type("CAST(b AS INT) AS b"), cast_type("sum(amount) * 2")
    ('INT', None)
    """
    tree = _parse_one(expression)
    return None if tree is None else _cast_type(tree)


def data_type(text: str) -> str:
    """A data type in one spelling (DuckDB's, lower case), so that synonyms compare equal.

    A type sqlglot does not know (a user-defined one) keeps its own words, lower case.

    >>> data_type("integer"), data_type("INT"), data_type("int4"), data_type("Double  Precision")
    ('int', 'int', 'int', 'double')
    """
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    if not str(text).strip():
        return ""
    try:
        return exp.DataType.build(str(text), dialect="duckdb", udt=True).sql(dialect="duckdb").lower()
    except (SqlglotError, RecursionError, AttributeError):  # as _parse_one: sqlglot cannot read it
        return " ".join(str(text).lower().split())


def reads_of(text: str, upstream: str) -> Reads:
    """What a model's SQL reads of one upstream placeholder (``__ref__stg_payments``, ``__source__lake__x``).

    Column names are over-approximated: every column name the SQL mentions anywhere (and every word in
    a macro call, whose string arguments often name columns). That can only make a change breaking.
    """
    from sqlglot import exp

    sql = _parse(text)
    if sql.tree is None:
        return Reads(None, True)
    names = {c.name.lower() for c in sql.tree.find_all(exp.Column) if not isinstance(c.this, exp.Star)}
    star = _star_targets(_first_select(sql.tree), _ctes(sql.tree))
    return Reads(frozenset(names | sql.jinja_words), star is None or upstream in star)


def frame_of(text: str, strip: frozenset[str]) -> str | None:
    """The SQL with every projection named in ``strip`` cut out of every select: what decides the rows."""
    from sqlglot import exp

    sql = _parse(text)
    if sql.tree is None:
        return None
    tree = sql.tree.copy()
    for select in tree.find_all(exp.Select):
        kept = [p for p in select.expressions if p.alias_or_name.lower() not in strip]
        select.set("expressions", kept)
    return tree.sql(dialect="duckdb", comments=False) + "\x1e" + "\x1f".join(sql.statements)


