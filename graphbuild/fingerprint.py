"""Merkle fingerprints: a data part (behaviour) and a metadata part (descriptions, owners, tags).

``data = H(kind, rule, rule version, attributes, own semantic digest, global inputs, deps' data)``;
``metadata = H(metadata attributes, metadata aspects)``. A change that normalises away (whitespace in
SQL, a comment in Python) leaves both unchanged; a description edit changes only ``metadata``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from graphbuild.errors import GraphbuildError
from graphbuild.graph import Graph
from graphbuild.labels import Label
from graphbuild.rule import Digest, Registry, RuleContext, Target
from graphbuild.sources import Analyzer, Snapshot, glob_regex
from graphbuild.values import FrozenDict, canonical_json, freeze, hash_text
from graphbuild.workspace import Settings

__all__ = ["Fingerprint", "Fingerprinted", "TargetState", "fingerprint_graph", "global_inputs"]


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """``data``: the target's behaviour (affected, its checks' keys, its deploy steps); ``interface``: the
    part its dependents inherit (``data`` without private aspects and check-only dependencies);
    ``metadata``: descriptions, owners, tags."""

    data: str
    metadata: str
    interface: str = ""


@dataclass(frozen=True, slots=True)
class TargetState:
    """What one target's fingerprint was computed from; ``why`` compares two of these."""

    target: Target
    digest: Digest
    blobs: FrozenDict  # own source path -> git blob id
    own: str  # the data hash of the target's own inputs, dependencies left out
    fingerprint: Fingerprint


@dataclass(frozen=True)
class Fingerprinted:
    """A graph of one revision with every target's fingerprint."""

    revision: str
    graph: Graph
    globals: FrozenDict  # global input path -> blob id, and the rule settings
    states: Mapping[Label, TargetState]
    snapshot: Snapshot | None = field(default=None, compare=False, repr=False)  # the files it was read from

    def fingerprint(self, label: Label) -> Fingerprint:
        return self.states[label].fingerprint


def _significant_lines(data: bytes) -> str:
    """A text file without blank lines, full-line ``#`` comments and trailing spaces, hashed."""
    lines = (line.rstrip() for line in data.decode("utf-8", "replace").splitlines())
    return hash_text(*(line for line in lines if line.strip() and not line.lstrip().startswith("#")))


_GLOBAL_INPUT = Analyzer("global-input", "1", _significant_lines)


def global_inputs(snapshot: Snapshot, settings: Settings) -> FrozenDict:
    """The inputs of every target: the global input files (comments and blank lines aside) and the rule settings."""
    patterns = [glob_regex(p) for p in settings.workspace.global_inputs]
    files = {p: snapshot.facts(p, _GLOBAL_INPUT) for p in snapshot.paths() if any(r.match(p) for r in patterns)}
    return freeze({"files": files, "rule settings": settings.rules})


def fingerprint_graph(
    graph: Graph,
    snapshot: Snapshot,
    settings: Settings,
    registry: Registry,
    *,
    memo: dict[tuple[Target, tuple[str | None, ...]], tuple[Digest, str]] | None = None,
) -> Fingerprinted:
    """Fingerprint every target, dependencies first. ``memo`` shares digests across snapshots."""
    memo = {} if memo is None else memo
    contexts = {name: RuleContext(snapshot, settings, settings.rule_settings(name)) for name in registry.rules}
    globals_ = global_inputs(snapshot, settings)
    globals_hash = hash_text(canonical_json(globals_))
    states: dict[Label, TargetState] = {}
    for label in graph.order:
        target = graph.targets[label]
        blobs = tuple(snapshot.blob_id(p) for p in target.sources)
        key = (target, blobs)
        if key not in memo:  # the same target with the same files digests the same in any revision
            try:
                digest = registry.rules[target.rule].digest(target, contexts[target.rule])
            except GraphbuildError as exc:
                if exc.file is None:
                    exc.file, exc.line = target.origin.file, target.origin.line
                raise
            inputs = hash_text(
                "data",
                target.kind,
                target.rule,
                registry.version_of(target.rule),
                canonical_json(target.attributes),
                canonical_json(digest.data),
            )
            memo[key] = (digest, inputs)
        digest, inputs = memo[key]
        public = hash_text(inputs, globals_hash)
        private = canonical_json(digest.private) if digest.private else ""
        own = hash_text(public, private) if private else public
        inherited = [f"{e.target}={states[e.target].fingerprint.interface}" for e in graph.deps[label] if not e.is_check_only]
        interface = hash_text(public, *inherited)
        metadata = hash_text("metadata", canonical_json(target.metadata), canonical_json(digest.metadata))
        states[label] = TargetState(
            target, digest, FrozenDict(dict(zip(target.sources, blobs))), own, Fingerprint("", metadata, interface)
        )
    for label, state in states.items():  # every interface is known: check-only edges may point either way
        private = canonical_json(state.digest.private) if state.digest.private else ""
        checked = [f"{e.target}={states[e.target].fingerprint.interface}" for e in graph.deps[label] if e.is_check_only]
        interface = state.fingerprint.interface
        data = hash_text(interface, "private", private, *checked) if private or checked else interface
        states[label] = replace(state, fingerprint=replace(state.fingerprint, data=data))
    return Fingerprinted(snapshot.revision, graph, globals_, MappingProxyType(states), snapshot)
