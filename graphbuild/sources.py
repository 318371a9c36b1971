"""Snapshots of the workspace's files, addressed by git blob id, and the persistent fact cache.

A snapshot is one revision of the files: the working tree (uncommitted changes included) or a commit
read from git objects, never checked out. A clean file's identity is its git blob id, known without
reading the file; what a rule learns from a file (its *facts*) is cached by that blob id, so a second
run reads nothing it has already seen.

>>> glob_regex("models/**/*.sql").match("models/staging/stg_payments.sql") is not None
True
"""

from __future__ import annotations

import bisect
from abc import ABC, abstractmethod
import hashlib
import os
import re
import stat
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from graphbuild.errors import GitError
from graphbuild.fsutil import make_cache_dir
from graphbuild.paths import read_workspace_file
from graphbuild.workspace import SETTINGS_FILE

__all__ = [
    "Analyzer",
    "Delta",
    "FactCache",
    "GitRevision",
    "RecordingSnapshot",
    "Snapshot",
    "WorkingTree",
    "blob_id_of",
    "glob_matches",
    "glob_regex",
    "open_snapshot",
]

WORKTREE = "WORKTREE"
_SYMLINK_MODE = "120000"  # git's mode for a symlink, stored as a blob holding the link text


@dataclass(frozen=True, slots=True)
class Analyzer:
    """A pure function from a file's content to JSON-ready facts; ``version`` invalidates its cache."""

    name: str
    version: str
    analyze: Callable[[bytes], Any]

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"


class FactCache:
    """Facts by (analyzer, blob id): in memory for a run, on disk (diskcache) across runs."""

    def __init__(self, directory: Path | None) -> None:
        self._directory = directory
        self._disk: Any = None
        self._memory: dict[str, Any] = {}
        self.reads = 0  # files whose content had to be analysed (cache misses)

    def get(self, analyzer: Analyzer, blob: str, load: Callable[[], bytes]) -> Any:
        key = f"{analyzer.key}:{blob}"
        if key in self._memory:
            return self._memory[key]
        disk = self._open()
        value = disk.get(key, default=_MISSING) if disk is not None else _MISSING
        if value is _MISSING:
            self.reads += 1
            value = analyzer.analyze(load())
            if disk is not None:
                disk.set(key, value)
        self._memory[key] = value
        return value

    def _open(self) -> Any:
        if self._disk is None and self._directory is not None:
            import diskcache

            make_cache_dir(self._directory)
            self._disk = diskcache.Cache(str(self._directory), size_limit=512 * 1024 * 1024)
        return self._disk

    def close(self) -> None:
        if self._disk is not None:
            self._disk.close()
            self._disk = None


_MISSING = object()


class Snapshot(Protocol):
    """A read-only view of one revision of the workspace's files (paths relative to the root)."""

    revision: str

    def paths(self) -> tuple[str, ...]: ...
    def blob_id(self, path: str) -> str | None: ...
    def is_symlink(self, path: str) -> bool: ...
    def symlinks(self) -> tuple[str, ...]: ...
    def read(self, path: str) -> bytes: ...
    def facts(self, path: str, analyzer: Analyzer) -> Any: ...
    def glob(self, patterns: Iterable[str], under: str = "") -> tuple[str, ...]: ...
    def blob_map(self) -> Mapping[str, str]: ...
    @property
    def identity(self) -> str: ...


def blob_id_of(data: bytes) -> str:
    """The git blob id of some content, as `git hash-object` computes it."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@lru_cache(maxsize=4096)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob with ``*`` (within a folder), ``**`` (any folders) and ``?``."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


@lru_cache(maxsize=4096)
def _glob_matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    include = [glob_regex(p) for p in patterns if not p.startswith("!")]
    exclude = [glob_regex(p[1:]) for p in patterns if p.startswith("!")]
    return lambda rel: any(r.match(rel) for r in include) and not any(r.match(rel) for r in exclude)


def glob_matches(patterns: Iterable[str], under: str, path: str) -> bool:
    """Whether ``Snapshot.glob(patterns, under)`` would select ``path`` (if the snapshot had it)."""
    prefix = f"{under}/" if under else ""
    return path.startswith(prefix) and _glob_matcher(tuple(patterns))(path[len(prefix) :])


@dataclass(frozen=True, slots=True)
class Delta:
    """How the files of one snapshot differ from another's: paths modified, added and removed."""

    modified: frozenset[str]
    added: frozenset[str]
    removed: frozenset[str]

    @classmethod
    def between(cls, old: Mapping[str, str], new: Mapping[str, str]) -> Delta:
        differ = {path for path, _ in set(old.items()) ^ set(new.items())}
        added = frozenset(p for p in differ if p not in old)
        removed = frozenset(p for p in differ if p not in new)
        return cls(frozenset(differ - added - removed), added, removed)

    @property
    def paths(self) -> frozenset[str]:
        return self.modified | self.added | self.removed

    def __len__(self) -> int:
        return len(self.modified) + len(self.added) + len(self.removed)


class RecordingSnapshot:
    """A snapshot that notes what it is asked: the paths read (content or presence), the globs, listings.

    Expanding a BUILD file through one of these tells which later changes can alter its targets.
    """

    def __init__(self, inner: Snapshot) -> None:
        self.inner = inner
        self.revision = inner.revision
        self.reads: set[str] = set()
        self.globs: set[tuple[tuple[str, ...], str]] = set()
        self.lists_paths = False

    def paths(self) -> tuple[str, ...]:
        self.lists_paths = True
        return self.inner.paths()

    def blob_id(self, path: str) -> str | None:
        self.reads.add(path)
        return self.inner.blob_id(path)

    def is_symlink(self, path: str) -> bool:
        self.reads.add(path)
        return self.inner.is_symlink(path)

    def symlinks(self) -> tuple[str, ...]:
        self.lists_paths = True
        return self.inner.symlinks()

    def read(self, path: str) -> bytes:
        self.reads.add(path)
        return self.inner.read(path)

    def facts(self, path: str, analyzer: Analyzer) -> Any:
        self.reads.add(path)
        return self.inner.facts(path, analyzer)

    def glob(self, patterns: Iterable[str], under: str = "") -> tuple[str, ...]:
        patterns = tuple(patterns)
        self.globs.add((patterns, under))
        return self.inner.glob(patterns, under)


class _GitSnapshot(ABC):
    def __init__(self, revision: str, blobs: dict[str, str], cache: FactCache, links: Iterable[str] = ()) -> None:
        self.revision = revision
        nested = tuple(p[: -len(SETTINGS_FILE)] for p in blobs if p.endswith("/" + SETTINGS_FILE))
        if nested:  # a folder with its own graphbuild.toml is another workspace, not ours
            blobs = {p: b for p, b in blobs.items() if not p.startswith(nested)}
        self._blobs = blobs
        self._links = frozenset(p for p in links if p in blobs)
        self._view = MappingProxyType(blobs)
        self._sorted = tuple(sorted(blobs))
        self._cache = cache
        self._identity: str | None = None

    def paths(self) -> tuple[str, ...]:
        return self._sorted

    def blob_id(self, path: str) -> str | None:
        return self._blobs.get(path)

    def is_symlink(self, path: str) -> bool:
        """Whether the path is a symlink (git mode 120000): its content is its link text, never its target's."""
        return path in self._links

    def symlinks(self) -> tuple[str, ...]:
        """Every path of the revision that is a symlink, sorted."""
        return tuple(sorted(self._links))

    def facts(self, path: str, analyzer: Analyzer) -> Any:
        blob = self._blobs.get(path)
        if blob is None:
            raise GitError(f"{path} is not in revision {self.revision}")
        return self._cache.get(analyzer, blob, lambda: self.read(path))

    def blob_map(self) -> Mapping[str, str]:
        """Every path of the revision -> its blob id (read-only)."""
        return self._view

    @property
    def identity(self) -> str:
        """A digest of every path and blob id: two snapshots with the same files have the same identity."""
        if self._identity is None:
            text = "".join(f"{path}\0{self._blobs[path]}\n" for path in self._sorted)
            self._identity = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
        return self._identity

    def glob(self, patterns: Iterable[str], under: str = "") -> tuple[str, ...]:
        prefix = f"{under}/" if under else ""
        lo = bisect.bisect_left(self._sorted, prefix)
        hi = bisect.bisect_left(self._sorted, prefix + "\U0010ffff")
        match = _glob_matcher(tuple(patterns))
        return tuple(path for path in self._sorted[lo:hi] if match(path[len(prefix) :]))

    @abstractmethod
    def read(self, path: str) -> bytes:
        """The content of one file of this revision."""


def _git(root: Path, *args: str, input: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, input=input, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed", fix="install git; graphbuild reads file digests from git") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(
            f"git {' '.join(args[:2])} failed: {message[-1] if message else 'exit ' + str(done.returncode)}",
            fix="check that the workspace is a git repository and the revision exists",
        )
    return done.stdout


class _Repo:
    """The git repository around a workspace root, and the root's path inside it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        out = _git(root, "rev-parse", "--show-toplevel", "--show-prefix").decode().splitlines()
        self.toplevel = Path(out[0])
        self.prefix = out[1] if len(out) > 1 else ""

    def relative(self, path: str) -> str | None:
        if not self.prefix:
            return path
        return path[len(self.prefix) :] if path.startswith(self.prefix) else None


class WorkingTree(_GitSnapshot):
    """The working tree: index blob ids for clean files, content hashes for changed and new ones."""

    def __init__(self, root: Path, cache: FactCache) -> None:
        self._root = root
        self._contents: dict[str, bytes] = {}
        repo = _Repo(root)
        blobs: dict[str, str] = {}
        links: set[str] = set()
        for entry in _git(repo.toplevel, "ls-files", "-s", "-z", "--", repo.prefix or ".").split(b"\0"):
            if not entry:
                continue
            meta, _, path = entry.decode("utf-8", "surrogateescape").partition("\t")
            mode, blob, _stage = meta.split(" ")
            rel = repo.relative(path)
            if rel is not None and mode != "160000":
                blobs[rel] = blob
                if mode == _SYMLINK_MODE:
                    links.add(rel)
        status = _git(
            repo.toplevel, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--", repo.prefix or "."
        )
        for entry in status.split(b"\0"):
            if len(entry) < 4:
                continue
            code, path = entry[:2].decode(), entry[3:].decode("utf-8", "surrogateescape")
            rel = repo.relative(path)
            if rel is None or code[1] == " ":
                continue
            links.discard(rel)
            if code[1] == "D" or not _is_file_or_symlink(root / rel):
                blobs.pop(rel, None)
                continue
            if os.path.islink(root / rel):
                links.add(rel)
            data = read_workspace_file(root, rel, symlinks="link-text")  # a symlink is its link text, as in git
            self._contents[rel] = data
            blobs[rel] = blob_id_of(data)
        super().__init__(WORKTREE, blobs, cache, links)

    def read(self, path: str) -> bytes:
        if path in self._contents:
            return self._contents[path]
        return read_workspace_file(self._root, path, symlinks="link-text")


def _is_file_or_symlink(path: Path) -> bool:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) or stat.S_ISLNK(mode)


class GitRevision(_GitSnapshot):
    """A commit, read from git objects (``ls-tree`` and ``cat-file --batch``), never checked out."""

    def __init__(self, root: Path, revision: str, cache: FactCache) -> None:
        repo = _Repo(root)
        self._repo = repo
        commit = _git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").decode().strip()
        blobs: dict[str, str] = {}
        links: set[str] = set()
        for entry in _git(repo.toplevel, "ls-tree", "-r", "-z", "--full-tree", commit).split(b"\0"):
            if not entry:
                continue
            meta, _, path = entry.decode("utf-8", "surrogateescape").partition("\t")
            mode, kind, blob = meta.split(" ")
            rel = repo.relative(path)
            if rel is not None and kind == "blob":
                blobs[rel] = blob
                if mode == _SYMLINK_MODE:
                    links.add(rel)
        self._batch: subprocess.Popen[bytes] | None = None
        super().__init__(commit, blobs, cache, links)

    def read(self, path: str) -> bytes:
        blob = self._blobs[path]
        if self._batch is None:
            self._batch = subprocess.Popen(
                ["git", "-C", str(self._repo.toplevel), "cat-file", "--batch"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        assert self._batch.stdin is not None and self._batch.stdout is not None
        self._batch.stdin.write(blob.encode() + b"\n")
        self._batch.stdin.flush()
        header = self._batch.stdout.readline().split()
        if len(header) < 3 or header[1] != b"blob":
            raise GitError(f"cannot read {path} at {self.revision}")
        data = self._batch.stdout.read(int(header[2]))
        self._batch.stdout.read(1)
        return data

    def close(self) -> None:
        if self._batch is not None:
            assert self._batch.stdin is not None
            self._batch.stdin.close()
            self._batch.wait()
            self._batch = None


def open_snapshot(root: Path, revision: str | None, cache: FactCache) -> WorkingTree | GitRevision:
    """The working tree when ``revision`` is None, else that commit."""
    if revision is None or revision == WORKTREE:
        return WorkingTree(root, cache)
    try:
        return GitRevision(root, revision, cache)
    except GitError as exc:
        raise GitError(
            f"unknown revision {revision!r}",
            fix="name a commit, branch or tag that exists, e.g. --since origin/main or --since HEAD~1",
        ) from exc
