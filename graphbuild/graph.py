"""The target graph: targets from BUILD declarations, edges from declared labels and resolved symbols.

>>> # graph = build_graph(snapshot, settings, registry); graph.rdeps[Label.parse("//streams:fx.rates")]
"""

from __future__ import annotations

import heapq
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from graphbuild.buildfiles import BUILD_FILE_NAMES, Declaration, parse_build_file
from graphbuild.errors import BuildFileError, CycleError, GraphbuildError, UnknownLabelError, UnresolvedDependencyError
from graphbuild.labels import Label, did_you_mean
from graphbuild.rule import Origin, Registry, RuleContext, Target
from graphbuild.sources import Analyzer, Snapshot, glob_regex
from graphbuild.workspace import Settings

__all__ = ["Edge", "Graph", "build_graph", "FILE_SYMBOL"]

FILE_SYMBOL = "file:"  # every target provides file:<path> for each source it owns


@dataclass(frozen=True, slots=True)
class Edge:
    """``source`` depends on ``target``, for the reason in ``origin``."""

    source: Label
    target: Label
    origin: Origin
    is_check_only: bool = False  # the source's checks read the target; its data does not


@dataclass(frozen=True)
class Graph:
    """Targets by label, their dependency edges both ways, and file ownership."""

    targets: Mapping[Label, Target]
    deps: Mapping[Label, tuple[Edge, ...]]
    rdeps: Mapping[Label, tuple[Label, ...]]
    owners: Mapping[str, tuple[Label, ...]]
    build_files: tuple[str, ...]
    order: tuple[Label, ...]  # data dependencies before dependents (check-only edges aside), ties by label

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
        """The shortest dependency path from ``start`` to any of ``goals`` (both ends included)."""
        wanted = set(goals)
        previous: dict[Label, Label | None] = {start: None}
        queue = deque([start])
        while queue:
            label = queue.popleft()
            if label in wanted:
                path = [label]
                while (step := previous[path[-1]]) is not None:
                    path.append(step)
                return tuple(reversed(path))
            for edge in self.deps[label]:
                if edge.target not in previous:
                    previous[edge.target] = label
                    queue.append(edge.target)
        return None


def _closure(roots: Iterable[Label], step) -> frozenset[Label]:
    seen = set(roots)
    queue = deque(seen)
    while queue:
        for nxt in step(queue.popleft()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return frozenset(seen)


def _parse_build(data: bytes) -> tuple[str, object]:
    try:
        return ("ok", parse_build_file("<BUILD>", data))
    except BuildFileError as exc:
        return ("error", (exc.message, exc.line, exc.col, exc.fix))


BUILD_ANALYZER = Analyzer("build-file", "1", _parse_build)


def is_ignored(path: str, settings: Settings) -> bool:
    return any(glob_regex(p).match(path) for p in settings.workspace.ignore)


def read_declarations(snapshot: Snapshot, path: str) -> tuple[Declaration, ...]:
    status, value = snapshot.facts(path, BUILD_ANALYZER)
    if status == "error":
        message, line, col, fix = value  # type: ignore[misc]
        raise BuildFileError(message, file=path, line=line, col=col, fix=fix)
    return tuple(Declaration(d.type_name, d.kwargs, path, d.line, d.col) for d in value)  # type: ignore[union-attr]


def build_graph(snapshot: Snapshot, settings: Settings, registry: Registry) -> Graph:
    """Read every BUILD file of the snapshot, expand it through the rules and link the targets."""
    build_files = tuple(
        p for p in snapshot.paths() if p.rsplit("/", 1)[-1] in BUILD_FILE_NAMES and not is_ignored(p, settings)
    )
    contexts = {
        name: RuleContext(snapshot, settings, settings.rule_settings(name)) for name in registry.rules
    }
    targets: dict[Label, Target] = {}
    for path in build_files:
        for declaration in read_declarations(snapshot, path):
            rule, target_type = registry.lookup(declaration)
            values = target_type.validate(declaration)
            made = []
            try:
                made = list(rule.expand(declaration, values, contexts[rule.name]))
            except GraphbuildError as exc:
                if exc.file is None:
                    exc.file, exc.line = declaration.file, declaration.line
                raise
            for target in made:
                if target.label in targets:
                    first = targets[target.label].origin
                    raise BuildFileError(
                        f"target {target.label} is declared twice (first at {first.file}:{first.line})",
                        file=target.origin.file,
                        line=target.origin.line,
                        fix="give one of them another name",
                    )
                targets[target.label] = target
            unused = set(values["overrides"]) - {t.label.name for t in made}
            if unused:
                name = sorted(unused)[0]
                raise BuildFileError(
                    f"overrides[{name!r}] names no generated target"
                    + did_you_mean(name, (t.label.name for t in made)),
                    file=declaration.file,
                    line=declaration.line,
                    fix="override a target this declaration generates",
                )
    return _link(targets, build_files)


def _link(targets: dict[Label, Target], build_files: tuple[str, ...]) -> Graph:
    providers: dict[str, list[Label]] = defaultdict(list)
    owners: dict[str, list[Label]] = defaultdict(list)
    for label, target in targets.items():
        for symbol in target.provides:
            providers[symbol].append(label)
        for path in target.sources:
            owners[path].append(label)
    for path, labels in owners.items():
        providers[FILE_SYMBOL + path].extend(labels)

    deps: dict[Label, dict[Label, Edge]] = {}
    for label in sorted(targets):
        target = targets[label]
        edges: dict[Label, Edge] = {}
        for dep, origin in target.dependencies:
            if dep not in targets:
                raise UnknownLabelError(
                    f"{label} depends on unknown target {dep}" + did_you_mean(str(dep), (str(k) for k in targets)),
                    file=origin.file,
                    line=origin.line,
                    fix="fix the label in dependencies=[...]",
                )
            edges.setdefault(dep, Edge(label, dep, origin))
        for requirement in target.requires:
            found = providers.get(requirement.symbol) or _folder_owners(requirement.symbol, owners)
            if not found:
                if requirement.is_optional:
                    continue
                kind, _, _ = requirement.symbol.partition(":")
                same_kind = (s for s in providers if s.startswith(kind + ":"))
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
        deps[label] = edges

    rdeps: dict[Label, list[Label]] = {label: [] for label in targets}
    for label, edges in deps.items():
        for dep in edges:
            rdeps[dep].append(label)
    frozen_deps = {label: tuple(edges[k] for k in sorted(edges)) for label, edges in deps.items()}
    data_deps = {label: tuple(e for e in edges if not e.is_check_only) for label, edges in frozen_deps.items()}
    data_rdeps: dict[Label, list[Label]] = {label: [] for label in targets}
    for label, edges in data_deps.items():
        for edge in edges:
            data_rdeps[edge.target].append(label)
    order = _topological(targets, data_deps, data_rdeps)  # check-only edges may point "back" (a test's other refs)
    return Graph(
        targets=MappingProxyType(dict(sorted(targets.items()))),
        deps=MappingProxyType(frozen_deps),
        rdeps=MappingProxyType({k: tuple(sorted(v)) for k, v in rdeps.items()}),
        owners=MappingProxyType({p: tuple(sorted(v)) for p, v in sorted(owners.items())}),
        build_files=build_files,
        order=order,
    )


def _folder_owners(symbol: str, owners: Mapping[str, list[Label]]) -> list[Label]:
    """``file:<folder>`` names every target owning a file under that folder."""
    if not symbol.startswith(FILE_SYMBOL):
        return []
    prefix = symbol[len(FILE_SYMBOL) :].rstrip("/") + "/"
    return sorted({label for path, labels in owners.items() if path.startswith(prefix) for label in labels})


def _topological(
    targets: Mapping[Label, Target], deps: Mapping[Label, tuple[Edge, ...]], rdeps: Mapping[Label, list[Label]]
) -> tuple[Label, ...]:
    waiting = {label: len(deps[label]) for label in targets}
    ready = [label for label, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[Label] = []
    while ready:
        label = heapq.heappop(ready)
        order.append(label)
        for dependent in rdeps[label]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, dependent)
    if len(order) < len(targets):
        raise _cycle_error({label for label, n in waiting.items() if n > 0}, deps)
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
