"""A session over one workspace: snapshots, graphs and fingerprints of revisions, computed once each.

>>> # with Session.open(".") as session: session.changes(since="HEAD~1").affected
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from graphbuild.changes import Changes, compare
from graphbuild.errors import GraphbuildError
from graphbuild.fingerprint import Fingerprinted, fingerprint_graph, settings_key
from graphbuild.graph import Graph, build_graph
from graphbuild.rule import Digest, Registry, Target
from graphbuild.revisions import RevisionStore
from graphbuild.sources import WORKTREE, Delta, FactCache, GitRevision, Snapshot, open_snapshot
from graphbuild.workspace import SETTINGS_FILE, Settings, Workspace, parse_settings

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
    _digests: dict[tuple[Target, tuple[str | None, ...], str], tuple[Digest, str]] = field(default_factory=dict)
    _settings: dict[tuple[bytes, bool], Settings] = field(default_factory=dict)  # (graphbuild.toml's text, strict)
    warnings: list[str] = field(default_factory=list)  # for the CLI to show: older settings today's rules refuse

    @classmethod
    def open(
        cls, start: Path | str = ".", *, registry: Registry | None = None, use_cache: bool = True
    ) -> Session:
        return cls.of(Workspace.find(start), registry=registry, use_cache=use_cache)

    @classmethod
    def of(cls, workspace: Workspace, *, registry: Registry | None = None, use_cache: bool = True) -> Session:
        registry = registry or Registry.from_entry_points()
        registry.check_settings(workspace.settings)
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
        settings = self.settings_of(snapshot)
        parent, delta = self._nearest(snapshot)
        if parent is not None and parent.globals.get("settings") != settings_key(settings):
            parent, delta = None, None  # its graph was expanded under other settings: build afresh (digests are shared)
        graph = build_graph(snapshot, settings, self.registry, previous=parent.graph if parent else None, delta=delta)
        result = fingerprint_graph(graph, snapshot, settings, self.registry, memo=self._digests, previous=parent, delta=delta)
        if parent is None or isinstance(snapshot, GitRevision):  # commits are asked for again (--since main)
            self.revisions.save(identity, snapshot.blob_map(), result)
        return result

    def settings_of(self, snapshot: Snapshot) -> Settings:
        """The settings a revision was written with: its own graphbuild.toml (the workspace's when it has none),
        so that a change of ``[rules.<name>]`` affects that rule's targets.

        Only the working tree's are validated strictly. A commit's were written for the rules of its day
        (``query affected --since`` an old commit must still answer): they are parsed leniently, and what
        today's rules refuse in them is one entry of ``warnings``, naming the commit.
        """
        if snapshot.blob_id(SETTINGS_FILE) is None:
            return self.workspace.settings
        raw = snapshot.read(SETTINGS_FILE)
        is_strict = not isinstance(snapshot, GitRevision)
        if (raw, is_strict) not in self._settings:
            settings, text = self.workspace.settings, raw.decode("utf-8", "replace")
            if text != settings.source_text:
                settings = parse_settings(SETTINGS_FILE, text, is_strict=is_strict)
                self.registry.check_settings(settings)
                self._warn_refused(snapshot, settings)
            self._settings[raw, is_strict] = settings
        return self._settings[raw, is_strict]

    def _warn_refused(self, snapshot: Snapshot, settings: Settings) -> None:
        problems = settings.problems(self.registry.settings_models()) if settings.is_lenient else ()
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            self.warnings.append(
                f"{SETTINGS_FILE} at revision {snapshot.revision} does not validate against today's rules, "
                f"read as written: {problems[0]}{more}"
            )

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
