"""Affected targets between two revisions, and why each one is affected.

A target is affected iff its data fingerprint differs between the two revisions (added targets
included; removed ones are listed apart). Its reason is either *direct* (which of its own files and
which aspects changed: "SQL body changed", "column added: fee_amount") or the shortest dependency
path to a directly changed target: over data edges when there is one; a path that must cross a
check-only edge (the target's tests read a changed target, its data does not) says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from graphbuild.fingerprint import Fingerprinted, TargetState
from graphbuild.labels import Label

__all__ = ["Changes", "Reason", "compare", "describe_aspect"]

ReasonKind = Literal["added", "changed", "dependency", "metadata"]


@dataclass(frozen=True, slots=True)
class Reason:
    """Why one target is affected (or metadata-only changed)."""

    label: Label
    kind: ReasonKind
    files: tuple[str, ...] = ()
    aspects: tuple[str, ...] = ()
    path: tuple[Label, ...] = ()
    check_only: tuple[tuple[Label, Label], ...] = ()  # the steps of ``path`` that are check-only edges

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": str(self.label),
            "kind": self.kind,
            "files": list(self.files),
            "aspects": list(self.aspects),
            "path": [str(p) for p in self.path],
            "check_only": [[str(a), str(b)] for a, b in self.check_only],
        }

    def text(self) -> str:
        match self.kind:
            case "added":
                return "new target"
            case "changed" | "metadata":
                what = "; ".join(self.aspects) or "sources changed"
                files = f" in {', '.join(self.files)}" if self.files else ""
                return f"{what}{files}"
            case "dependency":
                if self.path:
                    via = "".join(
                        f" (via check-only edge {a} -> {b}: its tests read {b}, its data does not)" for a, b in self.check_only
                    )
                    return "depends on a changed target: " + " -> ".join(str(p) for p in self.path) + via
                return "; ".join(self.aspects)


@dataclass(frozen=True)
class Changes:
    """The result of comparing two fingerprinted revisions."""

    base: str
    head: str
    affected: tuple[Label, ...]
    removed: tuple[Label, ...]
    metadata_only: tuple[Label, ...]
    reasons: Mapping[Label, Reason]

    @property
    def directly_changed(self) -> tuple[Label, ...]:
        return tuple(label for label in self.affected if self.reasons[label].kind in ("added", "changed"))


def compare(base: Fingerprinted, head: Fingerprinted) -> Changes:
    """Compare the fingerprints of two revisions of the same workspace."""
    reasons: dict[Label, Reason] = {}
    affected: list[Label] = []
    metadata_only: list[Label] = []
    direct: set[Label] = set()
    for label in _candidates(base, head):  # states (digests, files) are read only where they differ
        fingerprint = head.fingerprints[label]
        before = base.fingerprints.get(label)
        if before is None:
            reasons[label] = Reason(label, "added")
            affected.append(label)
            direct.add(label)
        elif before.data != fingerprint.data:
            affected.append(label)
            old, state = base.states[label], head.states[label]
            if old.own != state.own:
                reasons[label] = Reason(label, "changed", _changed_files(old, state), _own_aspects(base, head, old, state))
                direct.add(label)
        elif before.metadata != fingerprint.metadata:
            old, state = base.states[label], head.states[label]
            metadata_only.append(label)
            reasons[label] = Reason(label, "metadata", _changed_files(old, state), _metadata_aspects(old, state))
    for label in affected:
        if label in reasons:
            continue
        path = head.graph.shortest_path(label, direct - {label})
        if path is not None:
            reasons[label] = Reason(label, "dependency", path=path, check_only=_check_only_steps(head, path))
        else:
            before = {e.target for e in base.graph.deps[label]}
            after = {e.target for e in head.graph.deps[label]}
            aspects = [f"dependency removed: {d}" for d in sorted(before - after)]
            aspects += [f"dependency added: {d}" for d in sorted(after - before)]
            reasons[label] = Reason(label, "dependency", aspects=tuple(aspects) or ("dependencies changed",))
    removed = tuple(sorted(label for label in _candidates(head, base) if label not in head.fingerprints))
    return Changes(base.revision, head.revision, tuple(sorted(affected)), removed, tuple(sorted(metadata_only)), reasons)


def _check_only_steps(head: Fingerprinted, path: tuple[Label, ...]) -> tuple[tuple[Label, Label], ...]:
    steps = zip(path, path[1:])
    return tuple((a, b) for a, b in steps if (edge := head.graph.edge(a, b)) is not None and edge.is_check_only)


def _candidates(base: Fingerprinted, head: Fingerprinted) -> list[Label]:
    """The labels of ``head`` whose fingerprints may differ from ``base``'s, in order: only those computed
    again when one revision was derived from the other, else every one."""
    for derived, other in ((head, base), (base, head)):
        if derived.derived_from is other and derived.recomputed is not None:
            changed = derived.recomputed | derived.graph.derived.removed  # type: ignore[union-attr]
            return sorted(label for label in changed if label in head.fingerprints)
    return list(head.fingerprints)


def _changed_files(old: TargetState, new: TargetState) -> tuple[str, ...]:
    paths = set(old.blobs) | set(new.blobs)
    return tuple(sorted(p for p in paths if old.blobs.get(p) != new.blobs.get(p)))


def _own_aspects(base: Fingerprinted, head: Fingerprinted, old: TargetState, new: TargetState) -> tuple[str, ...]:
    out: list[str] = []
    if (old.target.kind, old.target.rule) != (new.target.kind, new.target.rule):
        out.append(f"kind changed: {old.target.kind} -> {new.target.kind}")
    out += describe_aspect("attribute", old.target.attributes, new.target.attributes)
    for part in ("data", "private"):
        before, after = getattr(old.digest, part), getattr(new.digest, part)
        for name in sorted(set(before) | set(after)):
            out += describe_aspect(name, before.get(name), after.get(name))
    out += describe_aspect("global input", base.globals["files"], head.globals["files"])
    rule = new.target.rule
    if base.globals.get("settings read", {}).get(rule) != head.globals.get("settings read", {}).get(rule):
        out.append(f"settings read by rule {rule} changed (graphbuild.toml)")
    if not out:
        out.append("rule version changed")
    return tuple(out)


def _metadata_aspects(old: TargetState, new: TargetState) -> tuple[str, ...]:
    out = describe_aspect("metadata", old.target.metadata, new.target.metadata)
    for name in sorted(set(old.digest.metadata) | set(new.digest.metadata)):
        out += describe_aspect(name, old.digest.metadata.get(name), new.digest.metadata.get(name))
    return tuple(out)


def _plural(name: str, count: int) -> str:
    return name if count == 1 else (name[:-1] + "ies" if name.endswith("y") else name + "s")


def describe_aspect(name: str, old: Any, new: Any) -> list[str]:
    """Describe how one aspect changed, structurally.

    >>> describe_aspect("column", {"id": {"type": "int"}}, {"id": {"type": "bigint"}, "fee": {}})
    ['column added: fee', 'column type changed: id']
    """
    if old == new:
        return []
    if old is None:
        return [f"{name} added"]
    if new is None:
        return [f"{name} removed"]
    if not (isinstance(old, Mapping) and isinstance(new, Mapping)):
        return [f"{name} changed"]
    out = []
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    if added:
        out.append(f"{_plural(name, len(added))} added: {', '.join(added)}")
    if removed:
        out.append(f"{_plural(name, len(removed))} removed: {', '.join(removed)}")
    for key in sorted(k for k in old if k in new and old[k] != new[k]):
        before, after = old[key], new[key]
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            for sub in sorted(s for s in set(before) | set(after) if before.get(s) != after.get(s)):
                out.append(f"{name} {sub} changed: {key}")
        else:
            out.append(f"{name} changed: {key}")
    return out
