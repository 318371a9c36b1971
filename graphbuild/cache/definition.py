"""What a cache holds (passing action results) and how an action's key is made.

The key of an action is ``sha256(data fingerprint, action name, handler package source, request,
toolchain versions, declared environment)``: the same inputs give the same key on any machine.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import platform
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NewType, Protocol

from graphbuild.run.action import Action, Outcome
from graphbuild.values import canonical_json

__all__ = ["ActionKey", "Cache", "CacheReader", "CachedResult", "action_key", "toolchain_version"]

ActionKey = NewType("ActionKey", str)


@dataclass(frozen=True, slots=True)
class CachedResult:
    """A passing outcome as stored: replayed with its log and marked cached."""

    action_id: str
    outcome: Outcome
    duration_s: float


class CacheReader(Protocol):
    """Read side of a cache: what a planner or a read-only client gets."""

    def get(self, key: ActionKey) -> CachedResult | None:
        """The stored result, or None on a miss (a corrupt entry is a miss, reported once)."""
        ...

    def get_many(self, keys: list[ActionKey]) -> list[CachedResult | None]:
        """``get`` for many keys, in order (a remote may answer them concurrently)."""
        ...

    def contains(self, key: ActionKey) -> bool:
        """Whether a result is stored under ``key`` here, unverified and without asking anything slow."""
        ...

    def get_verified(self, key: ActionKey) -> CachedResult | None:
        """``get``, trusting only a result proven to have been stored for ``key`` (signed, where a key exists).

        What promotion reads verdicts with: a result copied or forged under ``key`` is a miss.
        """
        ...

    def get_blob(self, digest: str) -> bytes | None:
        """A content-addressed blob (a log, an artifact), verified against its digest; None if absent or corrupt."""
        ...


class Cache(CacheReader, Protocol):
    """Read and write side of a cache."""

    def put(self, key: ActionKey, result: CachedResult) -> None:
        """Store a passing result (callers never store failures)."""
        ...

    def put_blob(self, data: bytes) -> str:
        """Store a blob by its sha256 and return the hex digest."""
        ...


@lru_cache(maxsize=None)
def toolchain_version(spec: str) -> str:
    """Resolve ``python``, ``dist:<distribution>`` or ``cmd:<command>`` to a version string."""
    kind, _, value = spec.partition(":")
    if spec == "python":
        return platform.python_version()
    if kind == "dist":
        try:
            return importlib.metadata.version(value)
        except importlib.metadata.PackageNotFoundError:
            return "absent"
    if kind == "cmd":
        try:
            done = subprocess.run(value.split(), capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return "absent"
        lines = (done.stdout or done.stderr).strip().splitlines()
        return lines[0] if lines else f"exit {done.returncode}"
    return spec


@lru_cache(maxsize=None)
def handler_digest(handler: str) -> str:
    """sha256 of the Python sources of the handler's whole top-level package.

    Editing a check, or anything it imports from its package, invalidates its cached results.
    """
    top = handler.partition(":")[0].split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        origin = spec.origin if spec is not None else None
        files = [Path(origin)] if origin and os.path.exists(origin) else []
        base = files[0].parent if files else Path(".")
    else:
        base = Path(next(iter(spec.submodule_search_locations)))
        files = sorted(base.rglob("*.py"))
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(base)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def action_key(action: Action, data_fingerprint: str) -> ActionKey:
    parts = {
        "fingerprint": data_fingerprint,
        "action": action.name,
        "handler": [action.handler, handler_digest(action.handler)],
        "request": action.request,  # settings and inputs the rule passed: a policy change re-runs
        "toolchain": {spec: toolchain_version(spec) for spec in action.toolchain},
        "env": {name: os.environ.get(name) for name in action.env},
    }
    return ActionKey(hashlib.sha256(canonical_json(parts).encode()).hexdigest())
