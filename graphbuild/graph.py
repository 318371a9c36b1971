"""The target graph: targets from BUILD declarations, edges from declared labels and resolved symbols.

A graph can be *derived* from another revision's (``build_graph(..., previous=, delta=)``): only the
BUILD files the change can alter are expanded again (``expansion.Reads``), unchanged targets stay the
very same objects, and only the targets that changed, or whose symbols changed providers, are linked
again; everything else is shared with the previous graph (``lazy.Overlay``). The result equals the
graph a build from scratch gives (``tests/test_incremental.py`` holds the two equal on random edits).

>>> # graph = build_graph(snapshot, settings, registry); graph.rdeps[Label.parse("//streams:fx.rates")]
"""

from __future__ import annotations

import bisect
import heapq
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from graphbuild.buildfiles import BUILD_FILE_NAMES
from graphbuild.errors import CycleError, UnknownLabelError, UnresolvedDependencyError
from graphbuild.expansion import Expansion, Reads, collect, expand, is_ignored
from graphbuild.labels import Label, did_you_mean
from graphbuild.lazy import Overlay
from graphbuild.rule import Origin, Registry, Target
from graphbuild.sources import Delta, Snapshot
from graphbuild.values import Compact
from graphbuild.workspace import Settings

__all__ = ["Derivation", "Edge", "Graph", "build_graph", "FILE_SYMBOL"]

FILE_SYMBOL = "file:"  # every target provides file:<path> for each source it owns


@dataclass(frozen=True, slots=True)
class Edge(Compact):
    """``source`` depends on ``target``, for the reason in ``origin``."""

    source: Label
    target: Label
    origin: Origin
    is_check_only: bool = False  # the source's checks read the target; its data does not


@dataclass(frozen=True)
class Derivation:
    """How a derived graph differs from ``base``: targets added or replaced, removed, and whose edges changed."""

    base: Graph
    changed: frozenset[Label]
    removed: frozenset[Label]
    rewired: frozenset[Label]


@dataclass(frozen=True)
class Graph:
    """Targets by label, their dependency edges both ways, file ownership, and the BUILD files' expansions."""

    targets: Mapping[Label, Target]
    deps: Mapping[Label, tuple[Edge, ...]]
    rdeps: Mapping[Label, tuple[Label, ...]]
    owners: Mapping[str, tuple[Label, ...]]
    build_files: tuple[str, ...]
    order: tuple[Label, ...]  # data dependencies before dependents (check-only edges aside), ties by label
    providers: Mapping[str, tuple[Label, ...]] = field(default_factory=dict)  # symbol -> the targets providing it
    requirers: Mapping[str, tuple[Label, ...]] = field(default_factory=dict)  # symbol -> the targets requiring it
    expansions: Mapping[str, Expansion] = field(default_factory=dict)  # BUILD file -> its expansion
    reads: Reads = field(default_factory=lambda: Reads({}, {}))
    derived: Derivation | None = field(default=None, compare=False, repr=False)

    def __contains__(self, label: object) -> bool:
        return label in self.targets

    def require(self, label: Label) -> Target:
        try:
            return self.targets[label]
        except KeyError:
            raise UnknownLabelError(
                f"no target {label}" + did_you_mean(str(label), (str(k) for k in self.targets)),
                fix="run `graphbuild query //...` to list the targets",
            ) from None

    def transitive_deps(self, roots: Iterable[Label]) -> frozenset[Label]:
        return _closure(roots, lambda label: (e.target for e in self.deps[label]))

    def transitive_rdeps(self, roots: Iterable[Label]) -> frozenset[Label]:
        return _closure(roots, lambda label: self.rdeps[label])

    def shortest_path(self, start: Label, goals: Iterable[Label]) -> tuple[Label, ...] | None:
        """The shortest dependency path from ``start`` to any of ``goals`` (both ends included).

        Data edges are preferred: the path crosses a check-only edge (a test reading a target, see
        ``edge``) only when no path of data edges exists, and then as few of them as possible.
        """
        wanted = set(goals)
        return self._data_path(start, wanted) or self._fewest_checks_path(start, wanted)

    def edge(self, source: Label, target: Label) -> Edge | None:
        """The edge by which ``source`` depends on ``target`` (a data edge wins over a check-only one)."""
        return next((e for e in self.deps.get(source, ()) if e.target == target), None)

    def _data_path(self, start: Label, wanted: set[Label]) -> tuple[Label, ...] | None:
        previous: dict[Label, Label | None] = {start: None}
        queue = deque([start])
        while queue:
            label = queue.popleft()
            if label in wanted:
                return _walk_back(previous, label)
            for edge in self.deps[label]:
                if not edge.is_check_only and edge.target not in previous:
                    previous[edge.target] = label
                    queue.append(edge.target)
        return None

    def _fewest_checks_path(self, start: Label, wanted: set[Label]) -> tuple[Label, ...] | None:
        """Dijkstra over (check-only edges, edges): the path with the fewest check-only edges, then the shortest."""
        best: dict[Label, tuple[int, int]] = {start: (0, 0)}
        previous: dict[Label, Label | None] = {start: None}
        heap = [(0, 0, start)]
        while heap:
            checks, hops, label = heapq.heappop(heap)
            if best[label] < (checks, hops):
                continue
            if label in wanted:
                return _walk_back(previous, label)
            for edge in self.deps[label]:
                cost = (checks + edge.is_check_only, hops + 1)
                if edge.target not in best or cost < best[edge.target]:
                    best[edge.target], previous[edge.target] = cost, label
                    heapq.heappush(heap, (*cost, edge.target))
        return None


def _walk_back(previous: Mapping[Label, Label | None], end: Label) -> tuple[Label, ...]:
    path = [end]
    while (step := previous[path[-1]]) is not None:
        path.append(step)
    return tuple(reversed(path))


def _closure(roots: Iterable[Label], step) -> frozenset[Label]:
    seen = set(roots)
    queue = deque(seen)
    while queue:
        for nxt in step(queue.popleft()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return frozenset(seen)


def build_graph(
    snapshot: Snapshot,
    settings: Settings,
    registry: Registry,
    *,
    previous: Graph | None = None,
    delta: Delta | None = None,
) -> Graph:
    """Read every BUILD file of the snapshot, expand it through the rules and link the targets.

    With ``previous`` (another revision's graph) and ``delta`` (how this snapshot's files differ from
    that revision's), only the BUILD files the change can alter are expanded again.
    """
    if previous is not None and delta is not None:
        return _derive(previous, delta, snapshot, settings, registry)
    build_files = tuple(p for p in snapshot.paths() if _is_build_file(p, settings))
    expanded = {path: expand(path, snapshot, settings, registry) for path in build_files}
    targets = collect(made for _, made in expanded.values())
    expansions = {path: expansion for path, (expansion, _) in expanded.items()}
    return _link(targets, build_files, expansions)


def _is_build_file(path: str, settings: Settings) -> bool:
    return path.rsplit("/", 1)[-1] in BUILD_FILE_NAMES and not is_ignored(path, settings)


def _link(targets: dict[Label, Target], build_files: tuple[str, ...], expansions: dict[str, Expansion]) -> Graph:
    providers: dict[str, list[Label]] = defaultdict(list)
    requirers: dict[str, set[Label]] = defaultdict(set)
    owners: dict[str, list[Label]] = defaultdict(list)
    for label, target in targets.items():
        for symbol in target.provides:
            providers[symbol].append(label)
        for requirement in target.requires:
            requirers[requirement.symbol].add(label)
        for path in target.sources:
            owners[path].append(label)
    links = _Links(targets, _sorted_values(providers), _sorted_values(owners))
    deps = {label: links.edges(label) for label in sorted(targets)}
    rdeps: dict[Label, list[Label]] = {label: [] for label in deps}
    for label, edges in deps.items():
        for edge in edges:
            rdeps[edge.target].append(label)
    return Graph(
        targets=MappingProxyType({label: targets[label] for label in deps}),
        deps=MappingProxyType(deps),
        rdeps=MappingProxyType({k: tuple(sorted(v)) for k, v in rdeps.items()}),
        owners=MappingProxyType(dict(sorted(links.owners.items()))),
        build_files=build_files,
        order=_topological(targets, deps),
        providers=MappingProxyType(links.providers),
        requirers=MappingProxyType(_sorted_values(requirers)),
        expansions=MappingProxyType(expansions),
        reads=Reads.of(expansions),
    )


def _sorted_values(mapping: Mapping[str, Iterable[Label]]) -> dict[str, tuple[Label, ...]]:
    return {key: tuple(sorted(values)) for key, values in mapping.items()}


def _derive(previous: Graph, delta: Delta, snapshot: Snapshot, settings: Settings, registry: Registry) -> Graph:
    """``previous`` with the BUILD files that ``delta`` makes stale expanded again, then linked again where needed."""
    build_files = previous.build_files
    gone_files = {p for p in delta.removed if p in previous.expansions}
    new_files = [p for p in delta.added if _is_build_file(p, settings)]
    if gone_files or new_files:
        build_files = tuple(sorted({*build_files, *new_files} - gone_files))
    stale = (previous.reads.stale(delta) | set(new_files)) - gone_files
    fresh: dict[str, Expansion] = {}
    fresh_targets: dict[str, tuple[Target, ...]] = {}
    made: dict[Label, Target] = {}
    clash = False
    for path in sorted(stale):  # an expansion error is the first in path order, as from scratch
        fresh[path], fresh_targets[path] = expand(path, snapshot, settings, registry, previous.targets)
        for target in fresh_targets[path]:
            clash = clash or target.label in made
            made[target.label] = target
    replaced = {p: previous.expansions.get(p) for p in (*stale, *gone_files)}
    gone = {label for expansion in replaced.values() if expansion is not None for label in expansion.labels}
    if clash or any(label in previous.targets and label not in gone for label in made):
        kept = previous.targets  # report the first label declared twice in path order, as from scratch
        collect(
            fresh_targets[path] if path in fresh else tuple(kept[label] for label in previous.expansions[path].labels)
            for path in build_files
        )
    removed = frozenset(gone - made.keys())
    changed = {label: target for label, target in made.items() if previous.targets.get(label) is not target}
    expansions = Overlay.of(previous.expansions, fresh, gone_files)
    reads = previous.reads.replaced(replaced, fresh)
    if not changed and not removed:
        derivation = Derivation(previous, frozenset(), frozenset(), frozenset())
        return replace(previous, build_files=build_files, expansions=expansions, reads=reads, derived=derivation)
    return _relink(previous, changed, removed, build_files, expansions, reads)


def _relink(
    previous: Graph,
    changed: dict[Label, Target],
    removed: frozenset[Label],
    build_files: tuple[str, ...],
    expansions: Mapping[str, Expansion],
    reads: Reads,
) -> Graph:
    """Link again the changed targets and those whose symbols changed providers; share every other edge."""
    old = previous.targets
    targets = Overlay.of(old, changed, removed)
    moves = [(label, old.get(label), changed.get(label)) for label in (*removed, *changed)]
    providers, symbols = _patch(previous.providers, moves, lambda t: t.provides)
    owners, paths = _patch(previous.owners, moves, lambda t: t.sources)
    requirers, _ = _patch(previous.requirers, moves, lambda t: {r.symbol for r in t.requires})
    links = _Links(targets, providers, owners)
    relink = set(changed)
    relink.update(label for symbol in symbols for label in requirers.get(symbol, ()))
    if paths:  # file:<path> and file:<folder> requirements whose owners moved
        for symbol, labels in requirers.items():
            if symbol.startswith(FILE_SYMBOL) and _Links.is_touched(symbol, frozenset(), paths):
                relink.update(labels)
    relink.update(label for gone in removed for label in previous.rdeps.get(gone, ()))  # declared dependencies
    relink -= removed
    added = {label for label in changed if label not in old}
    reorder = bool(added or removed)
    new_deps: dict[Label, tuple[Edge, ...]] = {}
    new_rdeps: dict[Label, set[Label]] = {label: set() for label in added}
    rewired: set[Label] = set()
    for label in sorted(relink | removed):
        before = {e.target: e.is_check_only for e in previous.deps.get(label, ())}
        edges = () if label in removed else links.edges(label)
        if label not in removed:
            new_deps[label] = edges
        after = {e.target: e.is_check_only for e in edges}
        if before == after:
            continue
        if label not in removed:
            rewired.add(label)
        reorder = reorder or {t for t, c in before.items() if not c} != {t for t, c in after.items() if not c}
        for dep in before.keys() - after.keys():
            new_rdeps.setdefault(dep, set(previous.rdeps.get(dep, ()))).discard(label)
        for dep in after.keys() - before.keys():
            new_rdeps.setdefault(dep, set(previous.rdeps.get(dep, ()))).add(label)
    deps = Overlay.of(previous.deps, new_deps, removed)
    rdeps = Overlay.of(
        previous.rdeps, {label: tuple(sorted(found)) for label, found in new_rdeps.items() if label not in removed}, removed
    )
    return Graph(
        targets=targets,
        deps=deps,
        rdeps=rdeps,
        owners=MappingProxyType(owners),
        build_files=build_files,
        order=_topological(targets, deps) if reorder else previous.order,
        providers=MappingProxyType(providers),
        requirers=MappingProxyType(requirers),
        expansions=expansions,
        reads=reads,
        derived=Derivation(previous, frozenset(changed), removed, frozenset(rewired)),
    )


def _patch(
    current: Mapping[str, tuple[Label, ...]],
    moves: list[tuple[Label, Target | None, Target | None]],
    keys_of: Callable[[Target], Iterable[str]],
) -> tuple[dict[str, tuple[Label, ...]], frozenset[str]]:
    """``current`` (key -> labels) once targets moved (label, before, after); and the keys whose labels changed."""
    touched: dict[str, set[Label]] = {}
    for label, before, after in moves:
        was = set(keys_of(before)) if before is not None else set()
        now = set(keys_of(after)) if after is not None else set()
        for key in was - now:
            touched.setdefault(key, set(current.get(key, ()))).discard(label)
        for key in now - was:
            touched.setdefault(key, set(current.get(key, ()))).add(label)
    out = dict(current)
    for key, labels in touched.items():
        if labels:
            out[key] = tuple(sorted(labels))
        else:
            out.pop(key, None)
    if any(key not in current for key in touched):
        out = dict(sorted(out.items()))
    return out, frozenset(key for key, labels in touched.items() if set(current.get(key, ())) != labels)


class _Links:
    """Resolves one target's declared dependencies and required symbols into edges."""

    def __init__(
        self, targets: Mapping[Label, Target], providers: Mapping[str, tuple[Label, ...]], owners: Mapping[str, tuple[Label, ...]]
    ) -> None:
        self.targets, self.providers, self.owners = targets, providers, owners
        self._paths: tuple[str, ...] | None = None  # owned paths, sorted, for folder symbols

    def find(self, symbol: str) -> tuple[Label, ...]:
        """The targets providing ``symbol``; ``file:<path>`` names its owners, ``file:<folder>`` every owner under it."""
        found = self.providers.get(symbol, ())
        if not symbol.startswith(FILE_SYMBOL):
            return found
        path = symbol[len(FILE_SYMBOL) :]
        owned = self.owners.get(path, ())
        if owned:
            return tuple(sorted(set(found) | set(owned))) if found else owned
        if found:
            return found
        if self._paths is None:
            self._paths = tuple(sorted(self.owners))
        prefix = path.rstrip("/") + "/"
        lo = bisect.bisect_left(self._paths, prefix)
        hi = bisect.bisect_left(self._paths, prefix + "\U0010ffff")
        return tuple(sorted({label for p in self._paths[lo:hi] for label in self.owners[p]}))

    @staticmethod
    def is_touched(symbol: str, symbols: frozenset[str], paths: frozenset[str]) -> bool:
        """Whether the providers of ``symbol`` may differ once ``symbols`` and the owners of ``paths`` moved."""
        if symbol in symbols:
            return True
        if not paths or not symbol.startswith(FILE_SYMBOL):
            return False
        path = symbol[len(FILE_SYMBOL) :]
        prefix = path.rstrip("/") + "/"
        return path in paths or any(p.startswith(prefix) for p in paths)

    def edges(self, label: Label) -> tuple[Edge, ...]:
        target = self.targets[label]
        edges: dict[Label, Edge] = {}
        for dep, origin in target.dependencies:
            if dep not in self.targets:
                raise UnknownLabelError(
                    f"{label} depends on unknown target {dep}" + did_you_mean(str(dep), (str(k) for k in self.targets)),
                    file=origin.file,
                    line=origin.line,
                    fix="fix the label in dependencies=[...]",
                )
            edges.setdefault(dep, Edge(label, dep, origin))
        for requirement in target.requires:
            found = self.find(requirement.symbol)
            if not found:
                if requirement.is_optional:
                    continue
                kind, _, _ = requirement.symbol.partition(":")
                same_kind = (s for s in self.providers if s.startswith(kind + ":"))
                raise UnresolvedDependencyError(
                    f"{label} needs {requirement.symbol} ({requirement.origin.how}), which no target provides"
                    + did_you_mean(requirement.symbol, same_kind),
                    file=requirement.origin.file,
                    line=requirement.origin.line,
                    fix="fix the name, or declare the target that provides it",
                )
            for provider in found:
                if provider == label:
                    continue
                edge = Edge(label, provider, requirement.origin, requirement.is_check_only)
                if provider not in edges or (edges[provider].is_check_only and not edge.is_check_only):
                    edges[provider] = edge  # a data edge wins over a check-only one
        return tuple(edges[k] for k in sorted(edges))


def _topological(targets: Mapping[Label, Target], deps: Mapping[Label, tuple[Edge, ...]]) -> tuple[Label, ...]:
    """Data dependencies before dependents, ties by label; check-only edges may point "back" (a test's other refs)."""
    waiting = {label: 0 for label in targets}
    dependents: dict[Label, list[Label]] = {label: [] for label in targets}
    for label, edges in deps.items():
        for edge in edges:
            if not edge.is_check_only:
                waiting[label] += 1
                dependents[edge.target].append(label)
    ready = [label for label, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[Label] = []
    while ready:
        label = heapq.heappop(ready)
        order.append(label)
        for dependent in dependents[label]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, dependent)
    if len(order) < len(targets):
        data_deps = {label: tuple(e for e in edges if not e.is_check_only) for label, edges in deps.items()}
        raise _cycle_error({label for label, n in waiting.items() if n > 0}, data_deps)
    return tuple(order)


def _cycle_error(stuck: set[Label], deps: Mapping[Label, tuple[Edge, ...]]) -> CycleError:
    start = min(stuck)
    path = [start]
    seen = {start: 0}
    while True:
        edge = next(e for e in deps[path[-1]] if e.target in stuck)
        if edge.target in seen:
            cycle = path[seen[edge.target] :] + [edge.target]
            break
        seen[edge.target] = len(path)
        path.append(edge.target)
    first = deps[cycle[0]]
    origin = next(e.origin for e in first if e.target == cycle[1])
    return CycleError(
        "dependency cycle: " + " -> ".join(str(label) for label in cycle),
        file=origin.file,
        line=origin.line,
        fix="break the cycle: one of these edges must go",
    )
