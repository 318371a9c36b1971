"""Fingerprinted revisions kept on disk: a later command starts from them instead of from scratch.

An entry is keyed by the digest of a revision's files (its snapshot identity) salted with what reads
them: the settings, the rules (names, versions, code) and the engine's own code. A clean working tree
and its commit share an entry. A revision nobody stored is *derived* from the nearest known one
(``graph.build_graph`` and ``fingerprint.fingerprint_graph`` with ``previous``), so a command's cost
grows with the change, not with the repository.

Entries are pickles in the local cache folder (``<cache dir>/revisions``), written atomically, the
newest few kept; they never leave the machine (the shared cache holds only signed action results).
An unreadable entry is a miss, deleted. The indexes every command reads (reverse dependencies,
owners, providers, order, fingerprints) load at once; targets, edge lists, expansions and digests are
one pickle each, decoded when read (``lazy.Lazy``), and copied as they are when a derived revision is
stored again.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import pickle
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from graphbuild.cache.definition import handler_digest
from graphbuild.expansion import Reads
from graphbuild.fingerprint import Fingerprinted, TargetState
from graphbuild.fsutil import atomic_write, make_cache_dir
from graphbuild.graph import Graph
from graphbuild.labels import Label
from graphbuild.lazy import Lazy, Overlay
from graphbuild.rule import Registry, Target
from graphbuild.workspace import Settings

K = TypeVar("K")
V = TypeVar("V")

__all__ = ["RevisionStore", "Stored"]

FORMAT = "2"  # bump when Graph, Fingerprinted or what they hold change shape
KEEP = 4  # entries kept: a branch, its base and a few switches


@dataclass(frozen=True)
class Stored:
    """One stored revision: its identity, every path's blob id, and its fingerprinted graph."""

    identity: str
    blobs: Mapping[str, str]
    fingerprinted: Fingerprinted


class RevisionStore:
    """Fingerprinted revisions on disk by identity; ``directory=None`` keeps nothing (``--no-cache``)."""

    def __init__(self, directory: Path | None, salt: str) -> None:
        self.directory = directory
        self.salt = salt

    @classmethod
    def open(cls, directory: Path | None, settings: Settings, registry: Registry) -> RevisionStore:
        code = {handler_digest("graphbuild")}
        code.update(handler_digest(type(rule).__module__) for rule in registry.rules.values())
        salt = hashlib.sha256(
            "\0".join(
                [
                    FORMAT,
                    platform.python_version(),
                    settings.model_dump_json(),
                    *sorted(f"{name}@{registry.version_of(name)}" for name in registry.rules),
                    *sorted(code),
                ]
            ).encode()
        ).hexdigest()
        return cls(directory, salt)

    def _path(self, identity: str) -> Path:
        assert self.directory is not None
        key = hashlib.sha256(f"{self.salt}\0{identity}".encode()).hexdigest()
        return self.directory / f"{self.salt[:16]}-{key}.pickle"

    def load(self, identity: str) -> Stored | None:
        """The stored revision with these files, or None."""
        if self.directory is None:
            return None
        return self._read(self._path(identity))

    def latest(self) -> Stored | None:
        """The most recently stored or used revision (to derive another from), or None."""
        if self.directory is None:
            return None
        for path in self._entries():
            if not path.name.startswith(self.salt[:16] + "-"):
                continue  # stored under other settings or code (another branch's): kept until pruned
            stored = self._read(path)
            if stored is not None:
                return stored
        return None

    def save(self, identity: str, blobs: Mapping[str, str], fingerprinted: Fingerprinted) -> None:
        """Store a revision (atomically) and drop all but the newest ``KEEP`` entries."""
        if self.directory is None:
            return
        record = (FORMAT, self.salt, identity, dict(blobs), _plain(fingerprinted))
        make_cache_dir(self.directory)
        atomic_write(self._path(identity), pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL))
        for stale in self._entries()[KEEP:]:
            stale.unlink(missing_ok=True)

    def _entries(self) -> list[Path]:
        """Entry files, newest first."""
        assert self.directory is not None
        try:
            found = [(p.stat().st_mtime_ns, p) for p in self.directory.glob("*.pickle")]
        except OSError:
            return []
        return [p for _, p in sorted(found, key=lambda item: item[0], reverse=True)]

    def _read(self, path: Path) -> Stored | None:
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            fmt, salt, identity, blobs, plain = _loads(data)
            if fmt != FORMAT or salt != self.salt:
                raise ValueError("another format or salt")
            stored = Stored(identity, MappingProxyType(blobs), _restore(plain))
        except Exception:  # a truncated, foreign or outdated entry: a miss, and never read again
            path.unlink(missing_ok=True)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used first
        return stored


def _loads(data: bytes) -> object:
    """Unpickle with the garbage collector paused, then move what it made out of the collector's sight.

    A stored graph is hundreds of thousands of small acyclic objects that live until the command ends:
    collecting while they are created triples the time, and every later full collection would walk them.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return pickle.loads(data)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _plain(fingerprinted: Fingerprinted) -> dict[str, object]:
    """The record of a revision: the indexes every command reads as they are, the bulk (targets, edges,
    expansions, digests) one pickle per key, decoded only when read (``lazy.Lazy``)."""
    graph = fingerprinted.graph
    return {
        "revision": fingerprinted.revision,
        "globals": fingerprinted.globals,
        "fingerprints": dict(fingerprinted.fingerprints),
        "states": _encoded(fingerprinted.states, lambda s: _dumps((s.digest, s.blobs, s.own, s.inputs))),
        "targets": _encoded(graph.targets, _dumps),
        "deps": _encoded(graph.deps, _dumps),
        "expansions": _encoded(graph.expansions, _dumps),
        "graph": {
            "rdeps": dict(graph.rdeps),
            "owners": dict(graph.owners),
            "build_files": graph.build_files,
            "order": graph.order,
            "providers": dict(graph.providers),
            "requirers": dict(graph.requirers),
            "reads": Reads(dict(graph.reads.readers), dict(graph.reads.listings)),
        },
    }


def _restore(plain: dict[str, Any]) -> Fingerprinted:
    targets: Lazy[Label, Target] = Lazy(plain["targets"], _loads_value)
    fingerprints = MappingProxyType(plain["fingerprints"])

    def state(label: Label, raw: bytes) -> TargetState:
        digest, blobs, own, inputs = _loads_value(label, raw)
        return TargetState(targets[label], digest, blobs, own, fingerprints[label], inputs)

    eager = plain["graph"]
    graph = Graph(
        targets=targets,
        deps=Lazy(plain["deps"], _loads_value),
        rdeps=MappingProxyType(eager["rdeps"]),
        owners=MappingProxyType(eager["owners"]),
        build_files=eager["build_files"],
        order=eager["order"],
        providers=MappingProxyType(eager["providers"]),
        requirers=MappingProxyType(eager["requirers"]),
        expansions=Lazy(plain["expansions"], _loads_value),
        reads=eager["reads"],
    )
    return Fingerprinted(plain["revision"], graph, plain["globals"], Lazy(plain["states"], state), fingerprints)


def _dumps(value: object) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _loads_value(key: object, raw: bytes) -> Any:
    return pickle.loads(raw)


def _encoded(mapping: Mapping[K, V], encode: Callable[[V], bytes]) -> dict[K, bytes]:
    """Every value encoded; a value read from a stored revision and never decoded is copied as it is."""
    base, changes = (mapping.base, mapping.changes) if isinstance(mapping, Overlay) else (mapping, {})
    out: dict[K, bytes] = {}
    for key in mapping:
        raw = base.raw(key) if isinstance(base, Lazy) and key not in changes else None
        out[key] = raw if raw is not None else encode(mapping[key])
    return out
