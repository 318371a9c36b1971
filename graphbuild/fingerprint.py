"""Merkle fingerprints: a data part (behaviour) and a metadata part (descriptions, owners, tags).

``data = H(kind, rule, rule version, attributes, own semantic digest, global input files, the settings the
rule reads, deps' data)``;
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

__all__ = ["Fingerprint", "Fingerprinted", "TargetState", "fingerprint_graph", "global_inputs", "settings_key"]


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
    globals: FrozenDict  # see ``global_inputs``
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


def global_inputs(snapshot: Snapshot, settings: Settings, registry: Registry) -> FrozenDict:
    """The inputs from outside the targets' own files.

    ``files``: the global input files (comments and blank lines aside), inputs of every target;
    ``settings read``: per rule, the hash of the ``[rules.<name>]`` settings its targets' data reads
    (``Registry.data_settings``), an input of that rule's targets only; ``rule settings``: every
    section as written, for deploy steps to read; ``settings``: ``settings_key`` (what the graph was
    expanded under), an input of no fingerprint.
    """
    literal = [p for p in settings.workspace.global_inputs if not any(c in p for c in "*?[")]
    patterns = [p for p in settings.workspace.global_inputs if p not in literal]
    paths = {p for p in literal if snapshot.blob_id(p) is not None} | set(snapshot.glob(patterns) if patterns else ())
    files = {p: snapshot.facts(p, _GLOBAL_INPUT) for p in sorted(paths)}
    read = {name: hash_text(canonical_json(registry.data_settings(settings, name))) for name in sorted(registry.rules)}
    return freeze({"files": files, "rule settings": settings.rules, "settings read": read, "settings": settings_key(settings)})


def settings_key(settings: Settings) -> str:
    """The hash of all the settings: a graph expanded under one key is derived from only under the same."""
    return hash_text(canonical_json(settings.model_dump(mode="json")))


def _settings_changed(previous: Fingerprinted, globals_: FrozenDict) -> frozenset[str]:
    """The rules whose settings read differ from ``previous``'s."""
    before = previous.globals.get("settings read", {})
    return frozenset(name for name, read in globals_["settings read"].items() if before.get(name) != read)


def fingerprint_graph(
    graph: Graph,
    snapshot: Snapshot,
    settings: Settings,
    registry: Registry,
    *,
    memo: dict[tuple[Target, tuple[str | None, ...], str], tuple[Digest, str]] | None = None,
    previous: Fingerprinted | None = None,
    delta: Delta | None = None,
) -> Fingerprinted:
    """Fingerprint every target, dependencies first. ``memo`` shares digests across snapshots.

    With ``previous`` (another revision's fingerprints, over the graph ``graph`` was derived from) and
    ``delta`` (how the files differ), only the targets whose target, files or edges changed, and their
    dependents, are computed again (with the targets of each rule whose settings read changed: the graph
    must be current for ``settings``); every other state is ``previous``'s. Without the derivation, a
    target whose target, files and settings read are ``previous``'s reuses its digest.
    """
    memo = {} if memo is None else memo
    registry.check_settings(settings)
    globals_ = global_inputs(snapshot, settings, registry)
    changed = _settings_changed(previous, globals_) if previous is not None else frozenset()
    dirty = _dirty(graph, globals_, changed, previous, delta)
    known: Mapping[Label, Fingerprint] = previous.fingerprints if dirty is not None else {}  # type: ignore[union-attr]
    run = _Pass(graph, snapshot, settings, registry, globals_, memo, previous, changed, known)
    todo = list(graph.order) if dirty is None else dirty
    for label in todo:
        run.public(label)
    for label in todo:  # every interface is known: check-only edges may point either way
        run.data(label)
    if dirty is not None:
        removed = graph.derived.removed  # type: ignore[union-attr]
        return Fingerprinted(
            snapshot.revision,
            graph,
            globals_,
            Overlay.of(previous.states, run.states, removed),  # type: ignore[union-attr]
            Overlay.of(known, run.fingerprints, removed),
            snapshot,
            previous,
            frozenset(todo),
        )
    ordered = {label: run.states[label] for label in graph.targets}
    return Fingerprinted(
        snapshot.revision,
        graph,
        globals_,
        MappingProxyType(ordered),
        MappingProxyType({label: run.fingerprints[label] for label in ordered}),
        snapshot,
    )


def _dirty(
    graph: Graph, globals_: FrozenDict, changed: frozenset[str], previous: Fingerprinted | None, delta: Delta | None
) -> list[Label] | None:
    """The labels to compute again, in order, when ``graph`` is derived from ``previous``'s under the same
    global input files (None: it is not, and every label is computed)."""
    derived = graph.derived
    if (
        previous is None
        or delta is None
        or derived is None
        or derived.base is not previous.graph
        or previous.globals["files"] != globals_["files"]
    ):
        return None
    seeds = {*derived.changed, *derived.rewired}
    seeds.update(label for path in delta.paths for label in graph.owners.get(path, ()))
    if changed:
        seeds.update(label for label, target in graph.targets.items() if target.rule in changed)
    dirty = graph.transitive_rdeps(seeds)
    return [label for label in graph.order if label in dirty] if dirty else []


class _Pass:
    """One ``fingerprint_graph`` call's inputs and results: ``public`` then ``data`` for each label to compute."""

    def __init__(
        self,
        graph: Graph,
        snapshot: Snapshot,
        settings: Settings,
        registry: Registry,
        globals_: FrozenDict,
        memo: dict[tuple[Target, tuple[str | None, ...], str], tuple[Digest, str]],
        previous: Fingerprinted | None,
        changed: frozenset[str],
        known: Mapping[Label, Fingerprint],
    ) -> None:
        self.graph, self.snapshot, self.registry, self.memo = graph, snapshot, registry, memo
        self.changed, self.known = changed, known
        self.old: Mapping[Label, TargetState] = previous.states if previous is not None else {}
        self.contexts = {name: registry.data_context(snapshot, settings, name) for name in registry.rules}
        self.read: Mapping[str, str] = globals_["settings read"]
        files_hash = hash_text(canonical_json(globals_["files"]))
        self.rule_hash = {name: hash_text(files_hash, value) for name, value in self.read.items()}
        self.states: dict[Label, TargetState] = {}
        self.fingerprints: dict[Label, Fingerprint] = {}

    def interface(self, label: Label) -> str:
        found = self.fingerprints.get(label) or self.known[label]
        return found.interface

    def digest(self, label: Label, target: Target, blobs: tuple[str | None, ...]) -> tuple[Digest, str]:
        key = (target, blobs, self.read[target.rule])
        if key not in self.memo:  # the same target with the same files and settings digests the same in any revision
            before = self.old.get(label)
            if (
                before is not None
                and before.target is target
                and tuple(before.blobs.values()) == blobs
                and target.rule not in self.changed
            ):
                self.memo[key] = (before.digest, before.inputs)
            else:
                self.memo[key] = _digest(target, self.contexts[target.rule], self.registry)
        return self.memo[key]

    def public(self, label: Label) -> None:
        """The target's state, its fingerprint holding the interface (own public inputs, dependencies' interfaces)."""
        target = self.graph.targets[label]
        blobs = tuple(self.snapshot.blob_id(p) for p in target.sources)
        digest, inputs = self.digest(label, target, blobs)
        public = hash_text(inputs, self.rule_hash[target.rule])
        private = canonical_json(digest.private) if digest.private else ""
        own = hash_text(public, private) if private else public
        inherited = [f"{e.target}={self.interface(e.target)}" for e in self.graph.deps[label] if not e.is_check_only]
        metadata = hash_text("metadata", canonical_json(target.metadata), canonical_json(digest.metadata))
        fingerprint = self.fingerprints[label] = Fingerprint("", metadata, hash_text(public, *inherited))
        self.states[label] = TargetState(target, digest, FrozenDict(dict(zip(target.sources, blobs))), own, fingerprint, inputs)

    def data(self, label: Label) -> None:
        """The target's data fingerprint: its interface, private aspects and check-only dependencies' interfaces."""
        state = self.states[label]
        private = canonical_json(state.digest.private) if state.digest.private else ""
        checked = [f"{e.target}={self.interface(e.target)}" for e in self.graph.deps[label] if e.is_check_only]
        own_interface = state.fingerprint.interface
        data = hash_text(own_interface, "private", private, *checked) if private or checked else own_interface
        self.fingerprints[label] = replace(state.fingerprint, data=data)
        self.states[label] = replace(state, fingerprint=self.fingerprints[label])


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
