"""A session over one workspace: snapshots, graphs and fingerprints of revisions, computed once each.

>>> # with Session.open(".") as session: session.changes(since="HEAD~1").affected
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphbuild.changes import Changes, compare
from graphbuild.errors import GraphbuildError
from graphbuild.fingerprint import Fingerprinted, fingerprint_graph
from graphbuild.graph import Graph, build_graph
from graphbuild.rule import Digest, Registry, Target
from graphbuild.sources import WORKTREE, FactCache, GitRevision, Snapshot, open_snapshot
from graphbuild.workspace import Workspace

__all__ = ["Session"]


@dataclass
class Session:
    """Everything graphbuild knows about a workspace during one command."""

    workspace: Workspace
    registry: Registry
    facts: FactCache
    _snapshots: dict[str, Snapshot] = field(default_factory=dict)
    _graphs: dict[str, Graph] = field(default_factory=dict)
    _fingerprints: dict[str, Fingerprinted] = field(default_factory=dict)
    _digests: dict[tuple[Target, tuple[str | None, ...]], tuple[Digest, str]] = field(default_factory=dict)

    @classmethod
    def open(
        cls, start: Path | str = ".", *, registry: Registry | None = None, use_cache: bool = True
    ) -> Session:
        workspace = Workspace.find(start)
        facts = FactCache(workspace.cache_dir / "facts" if use_cache else None)
        return cls(workspace, registry or Registry.from_entry_points(), facts)

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
        key = revision or WORKTREE
        if key not in self._graphs:
            try:
                self._graphs[key] = build_graph(self.snapshot(revision), self.workspace.settings, self.registry)
            except GraphbuildError as exc:
                if revision is not None:
                    exc.message = f"at revision {revision}: {exc.message}"
                raise
        return self._graphs[key]

    def fingerprinted(self, revision: str | None = None) -> Fingerprinted:
        key = revision or WORKTREE
        if key not in self._fingerprints:
            self._fingerprints[key] = fingerprint_graph(
                self.graph(revision),
                self.snapshot(revision),
                self.workspace.settings,
                self.registry,
                memo=self._digests,
            )
        return self._fingerprints[key]

    def changes(self, since: str, until: str | None = None) -> Changes:
        """What changed from ``since`` to ``until`` (default: the working tree, uncommitted changes included)."""
        return compare(self.fingerprinted(since), self.fingerprinted(until))
