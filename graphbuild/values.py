"""Frozen, hashable values and their canonical encoding.

Everything that enters the graph is immutable. ``freeze`` turns parsed literals (lists, dicts)
into tuples and ``FrozenDict``; ``canonical_json`` gives the byte string fingerprints hash, the same
on any machine and in any insertion order.

>>> canonical_json(freeze({"b": [1, 2], "a": None}))
'{"a":null,"b":[1,2]}'
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator, Mapping
from typing import Any

import xxhash

__all__ = ["FrozenDict", "canonical_json", "freeze", "hash_text", "thaw"]


class FrozenDict(Mapping[str, Any]):
    """An immutable, hashable mapping; equality and hash ignore insertion order."""

    __slots__ = ("_items", "_hash")

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._items: dict[str, Any] = dict(items or {})
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._items.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenDict):
            return self._items == other._items
        return isinstance(other, Mapping) and self._items == dict(other)

    def __repr__(self) -> str:
        return f"FrozenDict({self._items!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (self._items,))  # never the cached hash: string hashes differ between processes


class Compact:
    """For frozen slots dataclasses: pickled as their fields' values and rebuilt through ``__init__``.

    The dataclass default goes through ``dataclasses.fields()`` for every object, several times slower;
    a stored revision holds dozens of these per target (``graphbuild.revisions``).
    """

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), tuple(getattr(self, name) for name in self.__match_args__))  # type: ignore[attr-defined]


_SCALARS = frozenset({str, int, float, bool, type(None)})


def freeze(value: Any) -> Any:
    """Return an immutable copy of a literal: lists become tuples, dicts FrozenDicts (kept as they are)."""
    kind = type(value)
    if kind in _SCALARS:  # the common case first: exact types, before the isinstance chain
        return value
    if kind is dict:
        frozen = FrozenDict.__new__(FrozenDict)  # a new dict of its own: no second copy in __init__
        frozen._items, frozen._hash = {str(k): freeze(v) for k, v in value.items()}, None
        return frozen
    if kind is list or kind is tuple:
        return tuple([freeze(v) for v in value])
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return tuple(sorted(freeze(v) for v in value))
    return value


def thaw(value: Any) -> Any:
    """Return plain JSON-ready data (dicts and lists) for a frozen value."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


def _scalar(value: Any) -> Any:
    """What JSON lacks: frozen mappings as dicts, dates and times as ISO text, bytes as hex."""
    if isinstance(value, FrozenDict):
        return value._items
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_scalar)


def canonical_json(value: Any) -> str:
    """Encode a value as canonical JSON: sorted keys, no whitespace, stable on any machine."""
    return _CANONICAL.encode(value)  # what json.dumps with these options does, without building an encoder per call


def hash_text(*parts: str) -> str:
    """xxh3-128 of the parts, separated unambiguously; the fingerprint hash."""
    h = xxhash.xxh3_128()
    for part in parts:
        data = part.encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()
