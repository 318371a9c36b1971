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
from graphbuild.lazy import Overlay
from graphbuild.rule import Digest, Registry, RuleContext, Target
from graphbuild.sources import Analyzer, Delta, Snapshot
from graphbuild.values import Compact, FrozenDict, canonical_json, freeze, hash_text
from graphbuild.workspace import Settings

__all__ = ["Fingerprint", "Fingerprinted", "TargetState", "fingerprint_graph", "global_inputs"]


@dataclass(frozen=True, slots=True)
class Fingerprint(Compact):
    """``data``: the target's behaviour (affected, its checks' keys, its deploy steps); ``interface``: the
    part its dependents inherit (``data`` without private aspects and check-only dependencies);
    ``metadata``: descriptions, owners, tags."""

    data: str
    metadata: str
    interface: str = ""


@dataclass(frozen=True, slots=True)
class TargetState(Compact):
    """What one target's fingerprint was computed from; ``why`` compares two of these."""

    target: Target
    digest: Digest
    blobs: FrozenDict  # own source path -> git blob id
    own: str  # the data hash of the target's own inputs, dependencies left out
    fingerprint: Fingerprint
    inputs: str = ""  # the hash of the target and its digest, global inputs left out


@dataclass(frozen=True)
class Fingerprinted:
    """A graph of one revision with every target's fingerprint."""

    revision: str
    graph: Graph
    globals: FrozenDict  # global input path -> blob id, and the rule settings
    states: Mapping[Label, TargetState]
    fingerprints: Mapping[Label, Fingerprint]  # every state's fingerprint, without reading the states
    snapshot: Snapshot | None = field(default=None, compare=False, repr=False)  # the files it was read from
    derived_from: Fingerprinted | None = field(default=None, compare=False, repr=False)  # see ``recomputed``
    recomputed: frozenset[Label] | None = field(default=None, compare=False, repr=False)  # all others are derived_from's

    def fingerprint(self, label: Label) -> Fingerprint:
        return self.fingerprints[label]


def _significant_lines(data: bytes) -> str:
    """A text file without blank lines, full-line ``#`` comments and trailing spaces, hashed."""
    lines = (line.rstrip() for line in data.decode("utf-8", "replace").splitlines())
    return hash_text(*(line for line in lines if line.strip() and not line.lstrip().startswith("#")))


_GLOBAL_INPUT = Analyzer("global-input", "1", _significant_lines)


def global_inputs(snapshot: Snapshot, settings: Settings) -> FrozenDict:
    """The inputs of every target: the global input files (comments and blank lines aside) and the rule settings."""
    literal = [p for p in settings.workspace.global_inputs if not any(c in p for c in "*?[")]
    patterns = [p for p in settings.workspace.global_inputs if p not in literal]
    paths = {p for p in literal if snapshot.blob_id(p) is not None} | set(snapshot.glob(patterns) if patterns else ())
    files = {p: snapshot.facts(p, _GLOBAL_INPUT) for p in sorted(paths)}
    return freeze({"files": files, "rule settings": settings.rules})


def fingerprint_graph(
    graph: Graph,
    snapshot: Snapshot,
    settings: Settings,
    registry: Registry,
    *,
    memo: dict[tuple[Target, tuple[str | None, ...]], tuple[Digest, str]] | None = None,
    previous: Fingerprinted | None = None,
    delta: Delta | None = None,
) -> Fingerprinted:
    """Fingerprint every target, dependencies first. ``memo`` shares digests across snapshots.

    With ``previous`` (another revision's fingerprints, over the graph ``graph`` was derived from) and
    ``delta`` (how the files differ), only the targets whose target, files or edges changed, and their
    dependents, are computed again; every other state is ``previous``'s. Without the derivation, a
    target whose target and files are ``previous``'s reuses its digest.
    """
    memo = {} if memo is None else memo
    contexts = {name: RuleContext(snapshot, settings, settings.rule_settings(name)) for name in registry.rules}
    globals_ = global_inputs(snapshot, settings)
    globals_hash = hash_text(canonical_json(globals_))
    old: Mapping[Label, TargetState] = previous.states if previous is not None else {}
    derived = graph.derived
    incremental = (
        previous is not None
        and delta is not None
        and derived is not None
        and derived.base is previous.graph
        and previous.globals == globals_
    )
    if incremental:
        seeds = {*derived.changed, *derived.rewired}
        seeds.update(label for path in delta.paths for label in graph.owners.get(path, ()))
        dirty = graph.transitive_rdeps(seeds)
        todo = [label for label in graph.order if label in dirty] if dirty else []
        known: Mapping[Label, Fingerprint] = previous.fingerprints
    else:
        todo, known = list(graph.order), {}
    states: dict[Label, TargetState] = {}
    fingerprints: dict[Label, Fingerprint] = {}

    def interface(label: Label) -> str:
        found = fingerprints.get(label) or known[label]
        return found.interface

    for label in todo:
        target = graph.targets[label]
        blobs = tuple(snapshot.blob_id(p) for p in target.sources)
        key = (target, blobs)
        if key not in memo:  # the same target with the same files digests the same in any revision
            before = old.get(label)
            if before is not None and before.target is target and tuple(before.blobs.values()) == blobs:
                memo[key] = (before.digest, before.inputs)
            else:
                memo[key] = _digest(target, contexts[target.rule], registry)
        digest, inputs = memo[key]
        public = hash_text(inputs, globals_hash)
        private = canonical_json(digest.private) if digest.private else ""
        own = hash_text(public, private) if private else public
        inherited = [f"{e.target}={interface(e.target)}" for e in graph.deps[label] if not e.is_check_only]
        metadata = hash_text("metadata", canonical_json(target.metadata), canonical_json(digest.metadata))
        fingerprints[label] = Fingerprint("", metadata, hash_text(public, *inherited))
        states[label] = TargetState(target, digest, FrozenDict(dict(zip(target.sources, blobs))), own, fingerprints[label], inputs)
    for label in todo:  # every interface is known: check-only edges may point either way
        state = states[label]
        private = canonical_json(state.digest.private) if state.digest.private else ""
        checked = [f"{e.target}={interface(e.target)}" for e in graph.deps[label] if e.is_check_only]
        own_interface = state.fingerprint.interface
        data = hash_text(own_interface, "private", private, *checked) if private or checked else own_interface
        fingerprints[label] = replace(state.fingerprint, data=data)
        states[label] = replace(state, fingerprint=fingerprints[label])
    if incremental:
        removed = derived.removed  # type: ignore[union-attr]
        return Fingerprinted(
            snapshot.revision,
            graph,
            globals_,
            Overlay.of(previous.states, states, removed),  # type: ignore[union-attr]
            Overlay.of(known, fingerprints, removed),
            snapshot,
            previous,
            frozenset(todo),
        )
    ordered = {label: states[label] for label in graph.targets}
    return Fingerprinted(
        snapshot.revision,
        graph,
        globals_,
        MappingProxyType(ordered),
        MappingProxyType({label: fingerprints[label] for label in ordered}),
        snapshot,
    )


def _digest(target: Target, ctx: RuleContext, registry: Registry) -> tuple[Digest, str]:
    """The rule's semantic digest of the target and the hash of its own inputs."""
    try:
        digest = registry.rules[target.rule].digest(target, ctx)
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
    return digest, inputs
