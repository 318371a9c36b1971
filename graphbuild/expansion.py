"""Expanding BUILD files into targets, and knowing which expansions a change makes stale.

Each BUILD file is expanded through a ``RecordingSnapshot``: its ``Expansion`` lists the labels it
made and everything it read (file contents or presence, globs, the whole file list). ``Reads``
indexes those by path, so that deriving another revision's graph expands again exactly the BUILD
files that read a changed path or list a folder where a file was added or removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from graphbuild.buildfiles import Declaration, parse_build_file
from graphbuild.errors import BuildFileError, GraphbuildError
from graphbuild.labels import Label, did_you_mean
from graphbuild.rule import Registry, Target
from graphbuild.sources import Analyzer, Delta, RecordingSnapshot, Snapshot, glob_matches, glob_regex
from graphbuild.values import Compact
from graphbuild.workspace import Settings

__all__ = ["Expansion", "Reads", "collect", "duplicate_error", "expand", "is_ignored", "read_declarations"]

Glob = tuple[tuple[str, ...], str]  # (patterns, folder), as given to Snapshot.glob


@dataclass(frozen=True, slots=True)
class Expansion(Compact):
    """The labels one BUILD file declares, and what expanding it read: which changes can alter them."""

    labels: tuple[Label, ...]
    reads: frozenset[str]  # paths whose content or presence was read (the BUILD file's own included)
    globs: frozenset[Glob]  # the folders listed
    lists_paths: bool = False  # read the whole file list: any added or removed file may alter it


@dataclass(frozen=True)
class Reads:
    """The expansions' reads by path: ``readers`` (path -> BUILD files) and ``listings`` (BUILD file -> globs,
    whether it listed every path), for the BUILD files that listed anything."""

    readers: Mapping[str, tuple[str, ...]]
    listings: Mapping[str, tuple[frozenset[Glob], bool]]

    @classmethod
    def of(cls, expansions: Mapping[str, Expansion]) -> Reads:
        return cls({}, {}).replaced({}, expansions)

    def stale(self, delta: Delta) -> set[str]:
        """The BUILD files whose expansion may differ once files changed as in ``delta``."""
        found = {build for path in delta.paths for build in self.readers.get(path, ())}
        listed = delta.added | delta.removed
        if listed:
            for build, (globs, lists_paths) in self.listings.items():
                if build not in found and (
                    lists_paths or any(glob_matches(p, under, path) for p, under in globs for path in listed)
                ):
                    found.add(build)
        return found

    def replaced(self, old: Mapping[str, Expansion | None], new: Mapping[str, Expansion]) -> Reads:
        """This index once the BUILD files in ``old`` (their previous expansions) are expanded as in ``new``."""
        touched: dict[str, set[str]] = {}
        for build, expansion in old.items():
            for path in expansion.reads if expansion is not None else ():
                touched.setdefault(path, set(self.readers.get(path, ()))).discard(build)
        for build, expansion in new.items():
            for path in expansion.reads:
                touched.setdefault(path, set(self.readers.get(path, ()))).add(build)
        readers = dict(self.readers)
        for path, builds in touched.items():
            if builds:
                readers[path] = tuple(sorted(builds))
            else:
                readers.pop(path, None)
        listings = {build: entry for build, entry in self.listings.items() if build not in old}
        listings.update({b: (e.globs, e.lists_paths) for b, e in new.items() if e.globs or e.lists_paths})
        return Reads(readers, listings)


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


def expand(
    path: str, snapshot: Snapshot, settings: Settings, registry: Registry, previous: Mapping[Label, Target] | None = None
) -> tuple[Expansion, tuple[Target, ...]]:
    """Expand one BUILD file, noting what it reads; a target equal to one of ``previous`` is that very object
    (later stages compare targets by identity)."""
    recorder = RecordingSnapshot(snapshot)
    made: list[Target] = []
    for declaration in read_declarations(recorder, path):
        rule, target_type = registry.lookup(declaration)
        values = target_type.validate(declaration)
        ctx = registry.data_context(recorder, settings, rule.name)
        try:
            generated = list(rule.expand(declaration, values, ctx))
        except GraphbuildError as exc:
            if exc.file is None:
                exc.file, exc.line = declaration.file, declaration.line
            raise
        unused = set(values["overrides"]) - {t.label.name for t in generated}
        if unused:
            name = sorted(unused)[0]
            raise BuildFileError(
                f"overrides[{name!r}] names no generated target" + did_you_mean(name, (t.label.name for t in generated)),
                file=declaration.file,
                line=declaration.line,
                fix="override a target this declaration generates",
            )
        made += generated
    if previous is not None:
        made = [old if (old := previous.get(t.label)) == t else t for t in made]
    expansion = Expansion(tuple(t.label for t in made), frozenset(recorder.reads), frozenset(recorder.globs), recorder.lists_paths)
    return expansion, tuple(made)


def duplicate_error(target: Target, other: Target) -> BuildFileError:
    """Two targets with one label: the error names the later declaration (BUILD files in path order)."""
    first, target = sorted((other, target), key=lambda t: (t.origin.file, t.origin.line or 0))
    return BuildFileError(
        f"target {target.label} is declared twice (first at {first.origin.file}:{first.origin.line})",
        file=target.origin.file,
        line=target.origin.line,
        fix="give one of them another name",
    )


def collect(made: Iterable[tuple[Target, ...]]) -> dict[Label, Target]:
    """Targets by label, in expansion order; a label declared twice is an error naming both places."""
    targets: dict[Label, Target] = {}
    for batch in made:
        for target in batch:
            if target.label in targets:
                raise duplicate_error(target, targets[target.label])
            targets[target.label] = target
    return targets
