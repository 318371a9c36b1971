"""Ownership: every tracked file belongs to a target, is a global input, or is ignored.

``unowned_files`` is what ``graphbuild check`` reports; ``tailor`` asks the rules that can propose
BUILD entries for those files (a rule with a ``tailor`` method) and writes them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from graphbuild.buildfiles import BUILD_FILE_NAMES
from graphbuild.fsutil import atomic_write
from graphbuild.graph import Graph, is_ignored
from graphbuild.rule import Registry, RuleContext
from graphbuild.sources import Snapshot, glob_regex
from graphbuild.workspace import SETTINGS_FILE, Settings

__all__ = ["Proposal", "Tailorable", "apply_proposals", "propose", "unowned_files"]


@dataclass(frozen=True, slots=True)
class Proposal:
    """A BUILD entry a rule proposes: the package folder, the call text, the files it would own."""

    package: str
    call: str
    files: tuple[str, ...]


@runtime_checkable
class Tailorable(Protocol):
    """A rule that can propose BUILD entries for files no target owns.

    A rule whose proposals are a fallback for files other rules know better sets ``tailors_last = True``.
    """

    def tailor(self, paths: tuple[str, ...], ctx: RuleContext) -> Iterable[Proposal]:
        """Propose entries for some of ``paths``; leave the files it does not recognise."""
        ...


def unowned_files(graph: Graph, snapshot: Snapshot, settings: Settings) -> tuple[str, ...]:
    globals_ = [glob_regex(p) for p in settings.workspace.global_inputs]
    return tuple(
        path
        for path in snapshot.paths()
        if path not in graph.owners
        and path != SETTINGS_FILE
        and path.rsplit("/", 1)[-1] not in BUILD_FILE_NAMES
        and not is_ignored(path, settings)
        and not any(r.match(path) for r in globals_)
    )


def propose(paths: tuple[str, ...], snapshot: Snapshot, settings: Settings, registry: Registry) -> tuple[Proposal, ...]:
    """Ask each tailoring rule, in name order (``tailors_last`` rules after), for entries covering the unowned paths."""
    remaining = set(paths)
    proposals: list[Proposal] = []
    for name in sorted(registry.rules, key=lambda n: (bool(getattr(registry.rules[n], "tailors_last", False)), n)):
        rule = registry.rules[name]
        if not isinstance(rule, Tailorable) or not remaining:
            continue
        ctx = RuleContext(snapshot, settings, settings.rule_settings(name))
        for proposal in rule.tailor(tuple(sorted(remaining)), ctx):
            proposals.append(proposal)
            remaining -= set(proposal.files)
    return tuple(sorted(proposals, key=lambda p: (p.package, p.call)))


def apply_proposals(root: Path, proposals: Iterable[Proposal]) -> tuple[str, ...]:
    """Append the proposed calls to each package's BUILD file (created if missing), atomically."""
    by_package: dict[str, list[str]] = defaultdict(list)
    for proposal in proposals:
        by_package[proposal.package].append(proposal.call)
    written = []
    for package, calls in sorted(by_package.items()):
        path = root / package / "BUILD"
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        if existing and not existing.endswith("\n"):
            existing += "\n"
        atomic_write(path, existing + "".join(f"{call}\n" for call in calls))
        written.append(str(Path(package) / "BUILD"))
    return tuple(written)
