"""``graphbuild test``: select targets, collect their actions, shard, run or replay, report.

>>> # with Session.open(".") as s: run = run_tests(s, TestRequest(("//warehouse/...",)), reporter)
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from graphbuild.cache.layered import RemoteMode, open_cache
from graphbuild.cache.remote import CacheStats
from graphbuild.graph import is_ignored
from graphbuild.labels import Label, select
from graphbuild.rule import RuleContext
from graphbuild.run.action import Action
from graphbuild.run.pool import WorkerPools
from graphbuild.run.scheduler import ActionResult, Reporter, RunOptions, run_actions
from graphbuild.run.verdicts import record_verdicts
from graphbuild.run.shard import assign, load_durations, store_durations
from graphbuild.session import Session
from graphbuild.errors import WorkspaceError
from graphbuild.sources import FactCache, Snapshot, WorkingTree

__all__ = ["TestRequest", "TestRun", "collect_actions", "run_tests"]


@dataclass(frozen=True, slots=True)
class TestRequest:
    __test__ = False  # not a pytest test class
    patterns: tuple[str, ...] = ("//...",)
    since: str | None = None
    shard: tuple[int, int] | None = None
    options: RunOptions = field(default_factory=RunOptions)
    durations_file: Path | None = None
    store_durations: bool = False
    remote_cache: RemoteMode = "auto"


@dataclass(frozen=True)
class TestRun:
    __test__ = False
    selected: tuple[Label, ...]
    results: tuple[ActionResult, ...]
    duration_s: float
    corrupt_entries: int
    workers_started: dict[str, int]
    cache_stats: CacheStats = field(default_factory=CacheStats)

    def count(self, status: str) -> int:
        return sum(r.outcome.status == status for r in self.results)

    @property
    def cached(self) -> int:
        return sum(r.is_cached for r in self.results)

    @property
    def is_success(self) -> bool:
        return self.count("failed") == 0 and not any(
            r.outcome.summary.startswith("not run:") for r in self.results
        )

    @property
    def time_saved_s(self) -> float:
        return sum(r.duration_s for r in self.results if r.is_cached)


def collect_actions(session: Session, labels: Sequence[Label]) -> tuple[Action, ...]:
    graph = session.graph()
    settings = session.workspace.settings
    contexts = {name: RuleContext(session.snapshot(), settings, settings.rule_settings(name)) for name in session.registry.rules}
    actions: list[Action] = []
    for label in labels:
        target = graph.targets[label]
        actions.extend(session.registry.actions(target, contexts[target.rule]))
    return tuple(actions)


def run_tests(session: Session, request: TestRequest, reporter: Reporter) -> TestRun:
    start = time.monotonic()
    head = session.fingerprinted()
    labels = select(request.patterns, head.graph.targets)
    if request.since is not None:
        affected = set(session.changes(request.since).affected)
        labels = tuple(label for label in labels if label in affected)
    actions = collect_actions(session, labels)
    _refuse_links_out_of(session.workspace.root, session.snapshot())
    durations_file = request.durations_file or session.workspace.root / ".graphbuild-durations.json"
    if request.shard is not None:
        k, n = request.shard
        mine = set(assign([a.id for a in actions], n, load_durations(durations_file))[k - 1])
        actions = tuple(a for a in actions if a.id in mine)
    reporter.planned(actions)

    cache = open_cache(session.workspace, request.remote_cache)
    handlers_cache = session.workspace.cache_dir / "handlers" if request.options.use_cache else None  # parse memos
    pools = WorkerPools(session.workspace.root, cache_dir=handlers_cache)
    scratch = Path(tempfile.mkdtemp(prefix="graphbuild-run-"))
    fingerprints = {label: fingerprint.data for label, fingerprint in head.fingerprints.items()}  # no state decoded
    is_unchanged = _unchanged_since(session)
    try:
        results = run_actions(
            actions,
            head.graph,
            fingerprints,
            cache=cache,
            pools=pools,
            scratch=scratch,
            options=request.options,
            reporter=reporter,
            is_unchanged=is_unchanged,
        )
        record_verdicts(cache, labels, results, fingerprints, is_unchanged)
    finally:
        pools.close()
        shutil.rmtree(scratch, ignore_errors=True)
        cache.flush()
    cache.evict()
    if request.store_durations:
        store_durations(durations_file, {r.action.id: r.duration_s for r in results if not r.is_cached})
    return TestRun(labels, results, time.monotonic() - start, len(cache.corrupt), dict(pools.started), cache.stats)


def _refuse_links_out_of(root: Path, snapshot: Snapshot) -> None:
    """The checks run real tools (orchestrators, SQL compilers, test runners) on the working tree, and tools follow
    symlinks: a link leaving the workspace (to /proc/self/environ, ~/.aws) would put what it points at
    into their logs and results. Refuse to run at all while one exists."""
    real_root = os.path.realpath(root)
    escaping = [p for p in snapshot.symlinks() if os.path.commonpath([real_root, os.path.realpath(root / p)]) != real_root]
    if escaping:
        more = f" (and {len(escaping) - 1} more)" if len(escaping) > 1 else ""
        raise WorkspaceError(
            f"this symlink points outside the workspace{more}; the checks would read what it points at",
            file=escaping[0],
            fix="remove it or replace it with the file itself; graphbuild never reads through symlinks",
        )


def _unchanged_since(session: Session):
    """A predicate: did nothing a target depends on change in the working tree while actions ran?"""
    before = session.snapshot()
    memo: dict[str, frozenset[Label]] = {}

    def tainted() -> frozenset[Label]:
        if "t" not in memo:
            after = WorkingTree(session.workspace.root, FactCache(None))
            paths = set(before.paths()) | set(after.paths())
            changed = {p for p in paths if before.blob_id(p) != after.blob_id(p)}
            graph = session.graph()
            owners = {label for p in changed for label in graph.owners.get(p, ())}
            settings = session.workspace.settings
            unowned = any(p not in graph.owners and not is_ignored(p, settings) for p in changed)
            memo["t"] = frozenset(graph.targets) if unowned else graph.transitive_rdeps(owners)
        return memo["t"]

    return lambda label: label not in tainted()
