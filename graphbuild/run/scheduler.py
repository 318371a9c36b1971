"""The action scheduler: dependency order, ``-j N`` parallelism, batching, timeouts, fail-fast, cache.

Actions whose target's dependencies have pending actions wait for them; actions sharing a batch key
run as one unit (one call of their handler), which waits for everything its members wait for.
Passing results are stored in the cache unless the action is external or the workspace changed
under it while it ran; failures are never stored.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from graphbuild.cache.definition import ActionKey, Cache, CachedResult, action_key
from graphbuild.errors import GraphbuildError, WorkspaceError
from graphbuild.graph import Graph
from graphbuild.labels import Label
from graphbuild.paths import read_workspace_file
from graphbuild.run.action import Action, Outcome
from graphbuild.run.pool import WorkerPools, WorkerTimeout
from graphbuild.values import freeze, thaw

__all__ = ["ActionResult", "Reporter", "RunOptions", "run_actions"]


@dataclass(frozen=True, slots=True)
class ActionResult:
    action: Action
    outcome: Outcome
    duration_s: float
    is_cached: bool
    key: ActionKey


@dataclass(frozen=True, slots=True)
class RunOptions:
    jobs: int = 2
    keep_going: bool = False
    use_cache: bool = True
    timeout_s: float | None = None  # overrides every action's own timeout


class Reporter(Protocol):
    def planned(self, actions: Sequence[Action]) -> None: ...
    def started(self, actions: Sequence[Action]) -> None: ...
    def finished(self, result: ActionResult) -> None: ...


@dataclass(frozen=True, slots=True)
class _Unit:
    id: int
    members: tuple[int, ...]  # positions in the run's list of actions
    actions: tuple[Action, ...]

    @property
    def timeout(self) -> float:
        return sum(a.timeout_s for a in self.actions)


def _units(actions: Sequence[Action], pending: Iterable[int]) -> list[_Unit]:
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    singles: list[int] = []
    for i in pending:
        action = actions[i]
        if action.batch is None:
            singles.append(i)
        else:
            groups[(action.batch, action.handler, action.pool)].append(i)
    units = [tuple(members) for _, members in sorted(groups.items())] + [(i,) for i in singles]
    return [_Unit(n, members, tuple(actions[i] for i in members)) for n, members in enumerate(units)]


def _unit_dependencies(units: list[_Unit], graph: Graph) -> dict[int, set[int]]:
    owner: dict[Label, set[int]] = defaultdict(set)
    for unit in units:
        for action in unit.actions:
            owner[action.label].add(unit.id)
    deps: dict[int, set[int]] = {}
    for unit in units:
        labels = {a.label for a in unit.actions}
        upstream = graph.transitive_deps(labels) - labels
        deps[unit.id] = {u for label in upstream for u in owner.get(label, ())} - {unit.id}
    return deps


def run_actions(
    actions: Iterable[Action],
    graph: Graph,
    fingerprints: Mapping[Label, str],
    *,
    cache: Cache | None,
    pools: WorkerPools,
    scratch: Path,
    options: RunOptions,
    reporter: Reporter,
    is_unchanged: Callable[[Label], bool] = lambda label: True,
) -> tuple[ActionResult, ...]:
    """Run (or replay from the cache) every action; results in the order actions were given."""
    actions = list(actions)
    keys = [action_key(a, fingerprints[a.label]) for a in actions]
    store_blob = cache.put_blob if cache is not None else _digest_only
    results: list[ActionResult | None] = [None] * len(actions)
    if cache is not None and options.use_cache:
        lookups = [i for i, a in enumerate(actions) if not a.is_external]
        for i, hit in zip(lookups, cache.get_many([keys[i] for i in lookups])):
            if hit is not None and hit.outcome.status == "passed":
                results[i] = ActionResult(actions[i], hit.outcome, hit.duration_s, True, keys[i])
    for result in results:
        if result is not None:
            reporter.finished(result)

    units = _units(actions, (i for i, r in enumerate(results) if r is None))
    deps = _unit_dependencies(units, graph)
    done: set[int] = set()
    ran: list[int] = []  # positions of the actions run here, in the order they finished
    stopped = False
    with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as executor:
        running: dict[Future[list[ActionResult]], _Unit] = {}
        waiting = list(units)
        while waiting or running:
            if not stopped:
                ready = [u for u in waiting if deps[u.id] <= done]
                if not ready and not running and waiting:
                    ready = waiting[:1]  # batches merged across a cycle: order is not a correctness matter
                for unit in ready[: max(0, options.jobs - len(running))]:
                    waiting.remove(unit)
                    reporter.started(unit.actions)
                    future = executor.submit(_run_unit, unit, [keys[i] for i in unit.members], pools, scratch, options, store_blob)
                    running[future] = unit
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                unit = running.pop(future)
                done.add(unit.id)
                for i, result in zip(unit.members, future.result()):
                    results[i] = result
                    ran.append(i)
                    reporter.finished(result)
                    if result.outcome.status == "failed" and not options.keep_going:
                        stopped = True
        for unit in waiting:
            for i, action in zip(unit.members, unit.actions):
                outcome = Outcome("skipped", "not run: stopped after the first failure (use --keep-going to run everything)")
                result = results[i] = ActionResult(action, outcome, 0.0, False, keys[i])
                reporter.finished(result)

    if cache is not None:
        for i in ran:
            result = results[i]
            assert result is not None
            if result.outcome.status == "passed" and not result.action.is_external and is_unchanged(result.action.label):
                cache.put(result.key, CachedResult(result.action.id, result.outcome, result.duration_s))
    assert all(r is not None for r in results)  # every action was replayed, run or marked not run
    return tuple(results)  # type: ignore[arg-type]


def _digest_only(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ingest(outcome: Outcome, root: Path, store_blob: Callable[[bytes], str]) -> Outcome:
    """Move an outcome's artifact files into the content-addressed store: name -> ``sha256:<digest>``."""
    if not outcome.artifacts:
        return outcome
    stored = {}
    for name, location in outcome.artifacts.items():
        try:
            stored[name] = "sha256:" + store_blob(_read_artifact(root, location))
        except OSError as exc:
            return Outcome("failed", f"artifact {name!r} is missing: {exc}", outcome.log)
        except GraphbuildError as exc:
            return Outcome("failed", f"artifact {name!r} is refused: {exc}", outcome.log)
    return Outcome(outcome.status, outcome.summary, outcome.log, freeze(stored))


def _read_artifact(root: Path, location: str) -> bytes:
    """An artifact's bytes, never through a symlink: what enters the shared cache and the state store is
    the file the handler wrote, not whatever a link in the workspace points at."""
    if not Path(location).is_absolute():
        return read_workspace_file(root, location, symlinks="refuse")
    fd = os.open(location, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise WorkspaceError("the artifact is not a regular file", file=location, fix="write artifacts as regular files")
        return handle.read()


def _run_unit(
    unit: _Unit,
    keys: Sequence[ActionKey],
    pools: WorkerPools,
    scratch: Path,
    options: RunOptions,
    store_blob: Callable[[bytes], str],
) -> list[ActionResult]:
    first = unit.actions[0]
    message = {
        "handler": first.handler,
        "requests": [thaw(a.request) for a in unit.actions],
        "root": str(pools.root),
        "scratch": str(scratch / f"unit-{unit.id}"),
        "cache": str(pools.cache_dir) if pools.cache_dir is not None else None,
    }
    timeout = options.timeout_s if options.timeout_s is not None else unit.timeout
    start = time.monotonic()
    try:
        answer = pools.call(first.pool, message, timeout)
        outcomes = [Outcome.from_dict(r) for r in answer["results"]]
        printed = answer.get("output", "")
        if printed:
            outcomes = [Outcome(o.status, o.summary, (o.log + "\n--- output ---\n" + printed).strip(), o.artifacts) for o in outcomes]
    except WorkerTimeout:
        outcomes = [Outcome("failed", f"timed out after {timeout:g} s (the worker was stopped)")] * len(unit.actions)
    except Exception as exc:  # a crashed worker fails its actions; the run goes on
        outcomes = [Outcome("failed", f"worker failed: {exc}")] * len(unit.actions)
    outcomes = [_ingest(o, pools.root, store_blob) if o.status == "passed" else o for o in outcomes]
    share = (time.monotonic() - start) / len(unit.actions)
    return [ActionResult(a, o, share, False, k) for a, o, k in zip(unit.actions, outcomes, keys)]
