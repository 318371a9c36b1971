"""Read-only mappings that neither copy nor decode what a command never reads.

A stored revision (``graphbuild.revisions``) holds every target, edge and fingerprint state of the
workspace, but a one-file ``query affected`` reads a few hundred of them. ``Lazy`` decodes a value on
first access (and keeps it, so every reader sees the same object); ``Overlay`` is another revision's
mapping with a few keys replaced, added or removed, sharing the rest.

>>> base = Lazy({"a": b"1", "b": b"2"}, lambda key, raw: int(raw))
>>> derived = Overlay.of(base, {"c": 3}, removed={"a"})
>>> dict(derived), base.decoded
({'b': 2, 'c': 3}, 1)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Generic, TypeVar

__all__ = ["Lazy", "Overlay"]

K = TypeVar("K")
V = TypeVar("V")


class Lazy(Mapping[K, V], Generic[K, V]):
    """Values kept encoded until read: ``decode(key, raw)`` runs once per key."""

    __slots__ = ("_raw", "_decode", "_values")

    def __init__(self, raw: Mapping[K, bytes], decode: Callable[[K, bytes], V]) -> None:
        self._raw = raw
        self._decode = decode
        self._values: dict[K, V] = {}

    def __getitem__(self, key: K) -> V:
        try:
            return self._values[key]
        except KeyError:
            value = self._values[key] = self._decode(key, self._raw[key])
            return value

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def __iter__(self) -> Iterator[K]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    @property
    def decoded(self) -> int:
        """How many values have been decoded so far."""
        return len(self._values)

    def raw(self, key: K) -> bytes | None:
        """The encoded value, if it was never decoded (so it can be stored again as it is)."""
        return None if key in self._values else self._raw.get(key)


class Overlay(Mapping[K, V], Generic[K, V]):
    """``base`` with ``changes`` (replaced or added keys) and ``removed`` keys; iteration in sorted key order
    when keys were added, else in ``base``'s order."""

    __slots__ = ("base", "changes", "removed", "_keys")

    def __init__(self, base: Mapping[K, V], changes: Mapping[K, V], removed: frozenset[K]) -> None:
        self.base = base
        self.changes = changes
        self.removed = removed
        self._keys: tuple[K, ...] | None = None

    @classmethod
    def of(cls, base: Mapping[K, V], changes: Mapping[K, V], removed: Iterable[K] = ()) -> Overlay[K, V]:
        """An overlay on ``base``; an overlay on an overlay is flattened (lookups stay one level deep)."""
        gone = frozenset(k for k in removed if k not in changes)
        if isinstance(base, Overlay):
            merged = {k: v for k, v in base.changes.items() if k not in gone}
            merged.update(changes)
            return cls(base.base, merged, frozenset((base.removed - merged.keys()) | gone))
        return cls(base, dict(changes), gone)

    def __getitem__(self, key: K) -> V:
        if key in self.changes:
            return self.changes[key]
        if key in self.removed:
            raise KeyError(key)
        return self.base[key]

    def __contains__(self, key: object) -> bool:
        return key in self.changes or (key not in self.removed and key in self.base)

    def __iter__(self) -> Iterator[K]:
        return iter(self.keys_in_order())

    def __len__(self) -> int:
        return len(self.keys_in_order())

    def keys_in_order(self) -> tuple[K, ...]:
        if self._keys is None:
            added = [k for k in self.changes if k not in self.base]
            kept = [k for k in self.base if k not in self.removed]
            self._keys = tuple(sorted([*kept, *added])) if added else tuple(kept)  # type: ignore[type-var]
        return self._keys

