"""The query language over the target graph.

Expressions combine target patterns with functions and set operators (spaces around operators)::

    //warehouse/...                 every target under warehouse/
    deps(//pipelines:daily)         everything it depends on, transitively (itself included)
    deps(//x, 1)                    direct dependencies only
    rdeps(//..., //streams:fx.rates)   everything that depends on it
    kind(_model$, //...)            targets whose kind matches the regex
    somepath(//pipelines:daily, //streams:fx.rates)   one shortest dependency path
    owner(warehouse/orders.sql)     the targets owning a file
    //warehouse/... - kind(seed, //...)   union +, difference -, intersection ^

Parentheses and function calls nest at most ``MAX_NESTING`` (100) levels; a deeper query is a
``QueryError`` naming the limit, never a ``RecursionError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from graphbuild.errors import QueryError
from graphbuild.graph import Graph
from graphbuild.labels import Label, PatternSet, did_you_mean, select

__all__ = ["QueryResult", "evaluate", "FUNCTIONS"]

MAX_NESTING = 100  # parentheses and function calls inside each other; the parser recurses once per level
_TOKEN = re.compile(r"""\s*(?:(?P<punct>[(),])|"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<word>[^\s(),"']+))""")


@dataclass(frozen=True, slots=True)
class QueryResult:
    """The labels a query selects; ``is_path`` when their order is a dependency path."""

    labels: tuple[Label, ...]
    is_path: bool = False


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise QueryError(f"cannot read the query at column {pos + 1}: {text[pos:pos + 20]!r}")
        quoted = match["dq"] if match["dq"] is not None else match["sq"]
        out.append(match["punct"] or (f"\x00{quoted}" if quoted is not None else match["word"]))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, text: str, graph: Graph) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0
        self.graph = graph
        self.depth = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            want = f"{expected!r}" if expected else "more"
            raise QueryError(
                f"query {self.text!r}: expected {want}, found {token or 'the end'}",
                fix="see `graphbuild query --help` for the functions and operators",
            )
        self.pos += 1
        return token

    def parse(self) -> QueryResult:
        result = self.expression()
        if self.peek() is not None:
            raise QueryError(f"query {self.text!r}: unexpected {self.peek()!r}", fix="put spaces around + - ^")
        return result

    def expression(self) -> QueryResult:
        left = self.term()
        while self.peek() in ("+", "-", "^", "union", "except", "intersect"):
            op = self.take()
            right = set(self.term().labels)
            chosen = set(left.labels)
            if op in ("+", "union"):
                chosen |= right
            elif op in ("-", "except"):
                chosen -= right
            else:
                chosen &= right
            left = QueryResult(tuple(sorted(chosen)))
        return left

    def term(self) -> QueryResult:
        self.depth += 1
        try:
            return self._term()
        finally:
            self.depth -= 1

    def _term(self) -> QueryResult:
        if self.depth > MAX_NESTING:
            raise QueryError(
                f"query nests parentheses and function calls more than {MAX_NESTING} levels deep, the limit",
                fix="flatten the query: combine expressions with + - ^ instead of nesting them",
            )
        token = self.take()
        if token == "(":
            inner = self.expression()
            self.take(")")
            return inner
        if self.peek() == "(":
            function = FUNCTIONS.get(token)
            if function is None:
                raise QueryError(
                    f"unknown query function {token}()" + did_you_mean(token, FUNCTIONS),
                    fix="functions: " + ", ".join(sorted(FUNCTIONS)),
                )
            self.take("(")
            args: list[str | QueryResult] = []
            while self.peek() != ")":
                args.append(self.argument())
                if self.peek() == ",":
                    self.take(",")
            self.take(")")
            try:
                return function(self.graph, *args)
            except TypeError:
                raise QueryError(
                    f"{token}() does not take {len(args)} argument(s)", fix="see `graphbuild query --help`"
                ) from None
        return QueryResult(select([token], self.graph.targets))

    def argument(self) -> str | QueryResult:
        token = self.peek()
        following = self.tokens[self.pos + 1] if self.pos + 1 < len(self.tokens) else None
        if token is not None and token.startswith("\x00"):
            self.take()
            return token[1:]  # a quoted word: a regex with parentheses, a path with spaces
        if token is not None and not token.startswith("//") and token != "(" and following in (",", ")"):
            return self.take()  # a bare word: a kind regex, a depth, a file path
        return self.expression()


def _labels(value: str | QueryResult, name: str) -> set[Label]:
    if isinstance(value, str):
        raise QueryError(f"{name}() expects a target expression, got {value!r}", fix="write a pattern such as //path/...")
    return set(value.labels)


def _word(value: str | QueryResult, name: str) -> str:
    if not isinstance(value, str):
        raise QueryError(f"{name}() expects a word here, got a target expression")
    return value


def _depth(args: tuple[str | QueryResult, ...], name: str) -> int | None:
    if not args:
        return None
    text = _word(args[0], name)
    if not text.isdigit():
        raise QueryError(f"{name}() depth must be a number, got {text!r}")
    return int(text)


def _bounded(graph: Graph, roots: set[Label], step: Callable[[Label], object], depth: int | None) -> set[Label]:
    seen, frontier, level = set(roots), set(roots), 0
    while frontier and (depth is None or level < depth):
        frontier = {n for label in frontier for n in step(label)} - seen  # type: ignore[attr-defined]
        seen |= frontier
        level += 1
    return seen


def _deps(graph: Graph, expr: str | QueryResult, *rest: str | QueryResult) -> QueryResult:
    roots = _labels(expr, "deps")
    found = _bounded(graph, roots, lambda label: [e.target for e in graph.deps[label]], _depth(rest, "deps"))
    return QueryResult(tuple(sorted(found)))


def _rdeps(graph: Graph, *args: str | QueryResult) -> QueryResult:
    if len(args) == 1 or (len(args) == 2 and isinstance(args[1], str)):
        universe, roots, rest = set(graph.targets), _labels(args[0], "rdeps"), args[1:]
    elif len(args) >= 2:
        universe, roots, rest = _labels(args[0], "rdeps"), _labels(args[1], "rdeps"), args[2:]
    else:
        raise QueryError("rdeps() needs (universe, targets[, depth]) or (targets)")
    found = _bounded(graph, roots, lambda label: graph.rdeps[label], _depth(tuple(rest), "rdeps"))
    return QueryResult(tuple(sorted(found & (universe | roots))))


def _kind(graph: Graph, pattern: str | QueryResult, expr: str | QueryResult) -> QueryResult:
    try:
        regex = re.compile(_word(pattern, "kind"))
    except re.error as exc:
        raise QueryError(f"kind(): bad regex {pattern!r}: {exc}") from None
    return QueryResult(tuple(sorted(l for l in _labels(expr, "kind") if regex.search(graph.targets[l].kind))))


def _somepath(graph: Graph, start: str | QueryResult, end: str | QueryResult) -> QueryResult:
    goals = _labels(end, "somepath")
    for label in sorted(_labels(start, "somepath")):
        path = graph.shortest_path(label, goals)
        if path is not None:
            return QueryResult(path, is_path=True)
    return QueryResult((), is_path=True)


def _owner(graph: Graph, *paths: str | QueryResult) -> QueryResult:
    found: set[Label] = set()
    for value in paths:
        path = _word(value, "owner").removeprefix("./")
        owners = graph.owners.get(path)
        if owners is None:
            raise QueryError(
                f"no target owns {path}" + did_you_mean(path, graph.owners),
                fix="give the path relative to the workspace root; `graphbuild check` lists unowned files",
            )
        found |= set(owners)
    return QueryResult(tuple(sorted(found)))


FUNCTIONS: dict[str, Callable[..., QueryResult]] = {
    "deps": _deps,
    "rdeps": _rdeps,
    "kind": _kind,
    "somepath": _somepath,
    "owner": _owner,
}


def evaluate(graph: Graph, words: list[str] | tuple[str, ...]) -> QueryResult:
    """Evaluate CLI words: a list of patterns (with ``-`` exclusions), or one expression."""
    if not words:
        raise QueryError("no query given", fix="try `graphbuild query //...`")
    if len(words) > 1 and all(w.startswith(("//", "-//", ":")) for w in words):
        return QueryResult(select(PatternSet.parse(words), graph.targets))
    return _Parser(" ".join(words), graph).parse()
