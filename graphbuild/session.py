"""A session over one workspace: snapshots, graphs and fingerprints of revisions, computed once each.

>>> # with Session.open(".") as session: session.changes(since="HEAD~1").affected
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from graphbuild.changes import Changes, compare
from graphbuild.errors import GraphbuildError
from graphbuild.fingerprint import Fingerprinted, fingerprint_graph
from graphbuild.graph import Graph, build_graph
from graphbuild.rule import Digest, Registry, Target
from graphbuild.revisions import RevisionStore
from graphbuild.sources import WORKTREE, Delta, FactCache, GitRevision, Snapshot, open_snapshot
from graphbuild.workspace import Workspace

__all__ = ["Session"]


@dataclass
class Session:
    """Everything graphbuild knows about a workspace during one command."""

    workspace: Workspace
    registry: Registry
    facts: FactCache
    revisions: RevisionStore
    _snapshots: dict[str, Snapshot] = field(default_factory=dict)
    _fingerprints: dict[str, Fingerprinted] = field(default_factory=dict)
    _digests: dict[tuple[Target, tuple[str | None, ...]], tuple[Digest, str]] = field(default_factory=dict)

    @classmethod
    def open(
        cls, start: Path | str = ".", *, registry: Registry | None = None, use_cache: bool = True
    ) -> Session:
        return cls.of(Workspace.find(start), registry=registry, use_cache=use_cache)

    @classmethod
    def of(cls, workspace: Workspace, *, registry: Registry | None = None, use_cache: bool = True) -> Session:
        registry = registry or Registry.from_entry_points()
        facts = FactCache(workspace.cache_dir / "facts" if use_cache else None)
        revisions = RevisionStore.open(workspace.cache_dir / "revisions" if use_cache else None, workspace.settings, registry)
        return cls(workspace, registry, facts, revisions)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        for snapshot in self._snapshots.values():
            if isinstance(snapshot, GitRevision):
                snapshot.close()
        self.facts.close()

    def snapshot(self, revision: str | None = None) -> Snapshot:
        key = revision or WORKTREE
        if key not in self._snapshots:
            self._snapshots[key] = open_snapshot(self.workspace.root, revision, self.facts)
        return self._snapshots[key]

    def graph(self, revision: str | None = None) -> Graph:
        return self.fingerprinted(revision).graph

    def fingerprinted(self, revision: str | None = None) -> Fingerprinted:
        key = revision or WORKTREE
        if key not in self._fingerprints:
            snapshot = self.snapshot(revision)
            try:
                self._fingerprints[key] = self._fingerprint(snapshot)
            except GraphbuildError as exc:
                if revision is not None:
                    exc.message = f"at revision {revision}: {exc.message}"
                raise
        return self._fingerprints[key]

    def _fingerprint(self, snapshot: Snapshot) -> Fingerprinted:
        """The snapshot's graph and fingerprints: known (same files), stored, derived from the nearest, or built."""
        identity = snapshot.identity
        for known in self._fingerprints.values():
            if known.snapshot is not None and known.snapshot.identity == identity:
                return replace(known, revision=snapshot.revision, snapshot=snapshot)
        stored = self.revisions.load(identity)
        if stored is not None:
            return replace(stored.fingerprinted, revision=snapshot.revision, snapshot=snapshot)
        parent, delta = self._nearest(snapshot)
        settings = self.workspace.settings
        graph = build_graph(snapshot, settings, self.registry, previous=parent.graph if parent else None, delta=delta)
        result = fingerprint_graph(graph, snapshot, settings, self.registry, memo=self._digests, previous=parent, delta=delta)
        if parent is None or isinstance(snapshot, GitRevision):  # commits are asked for again (--since main)
            self.revisions.save(identity, snapshot.blob_map(), result)
        return result

    def _nearest(self, snapshot: Snapshot) -> tuple[Fingerprinted | None, Delta | None]:
        """The known revision whose files differ least from ``snapshot``'s (this session's, else the store's latest)."""
        files = snapshot.blob_map()
        candidates = [(known, known.snapshot.blob_map()) for known in self._fingerprints.values() if known.snapshot]
        if not candidates and (stored := self.revisions.latest()) is not None:
            candidates = [(stored.fingerprinted, stored.blobs)]
        best: tuple[Fingerprinted | None, Delta | None] = (None, None)
        for known, blobs in candidates:
            delta = Delta.between(blobs, files)
            if best[1] is None or len(delta) < len(best[1]):
                best = (known, delta)
        return best

    def changes(self, since: str, until: str | None = None) -> Changes:
        """What changed from ``since`` to ``until`` (default: the working tree, uncommitted changes included)."""
        return compare(self.fingerprinted(since), self.fingerprinted(until))
