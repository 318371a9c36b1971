"""The local action cache: ``ac/<key>.json`` results referencing ``cas/<sha256>`` blobs, size-bounded.

Every result carries a digest of its own content and the key it was stored under, both checked on
every read: a corrupt result, or one copied from another key's path, is reported once, removed and
treated as a miss (so copying a passing result over a failing action's makes it run again). A result
may carry a signature (HMAC over its fields and the remote's salt: kept from a remote hit, or given
when the signing key is known), which ``record`` returns for a caller to verify. A hit needs every blob it references (its log, its
artifacts) present (an empty log needs none: its digest says what it holds). A blob is verified
against its digest when it is read (``get_blob``), and for a log that is when something reads
``Outcome.log`` (``StoredOutcome``), not on every hit: a replay needs only the status and the summary,
and a batched action's log can carry the whole batch's output (hundreds of kB, for each member).
A log found corrupt or missing when read removes its result (and a corrupt blob), so the next run
re-runs the action. When the folder grows past its limit, the least recently used results go
first, each with the blobs no remaining result uses.

Hot paths use plain string paths and ``os`` calls: a no-op run looks up every selected action.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path

from graphbuild.cache.definition import ActionKey, CachedResult
from graphbuild.fsutil import atomic_write
from graphbuild.run.action import Outcome, StoredOutcome
from graphbuild.values import canonical_json, freeze

__all__ = ["LocalCache"]

_EMPTY = hashlib.sha256(b"").hexdigest()  # the blob of an empty log: its content is known without reading it


def _read_and_touch(path: str) -> bytes:
    """A result file's bytes; its modification time set to now (recently used: evicted last)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = [os.read(fd, 1 << 16)]
        while len(chunks[-1]) == 1 << 16:
            chunks.append(os.read(fd, 1 << 16))
        os.utime(fd)
    finally:
        os.close(fd)
    return b"".join(chunks)


def _read_file(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


class LocalCache:
    def __init__(self, directory: Path, max_bytes: int = 2 * 1024**3) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.corrupt: list[str] = []  # keys found corrupt this run (reported once by the caller)
        self.written = 0  # entries and blobs stored by this instance
        self._root = str(directory)

    def _ac(self, key: str) -> str:
        return f"{self._root}/ac/{key[:2]}/{key}.json"

    def _cas(self, digest: str) -> str:
        return f"{self._root}/cas/{digest[:2]}/{digest}"

    def put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._cas(digest)
        if not os.path.exists(path):
            atomic_write(Path(path), data)
            self.written += 1
        return digest

    def get_blob(self, digest: str) -> bytes | None:
        path = self._cas(digest)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != digest:
            self._remove(path, 0)  # so that storing the right content again (put_blob) is not skipped
            return None
        return data

    def put(
        self,
        key: ActionKey,
        result: CachedResult,
        *,
        signature: str | None = None,
        sign: Callable[[Mapping[str, object]], str] | None = None,
    ) -> None:
        """Store ``result`` bound to ``key``, with ``signature`` (or the one ``sign`` gives its fields) if any."""
        body: dict[str, object] = {
            "key": key,
            "action": result.action_id,
            "status": result.outcome.status,
            "summary": result.outcome.summary,
            "log": self.put_blob(result.outcome.log.encode()),
            "artifacts": dict(result.outcome.artifacts),
            "duration_s": round(result.duration_s, 3),
        }
        signature = signature if signature is not None or sign is None else sign(body)
        if signature is not None:
            body["signature"] = signature
        body["digest"] = hashlib.sha256(canonical_json(body).encode()).hexdigest()
        atomic_write(Path(self._ac(key)), json.dumps(body, sort_keys=True))
        self.written += 1

    def contains(self, key: ActionKey) -> bool:
        """Whether a result is stored under ``key`` (not verified: ``get`` does that)."""
        return os.path.isfile(self._ac(key))

    def get_many(self, keys: list[ActionKey]) -> list[CachedResult | None]:
        return [self.get(key) for key in keys]

    def get_verified(self, key: ActionKey) -> CachedResult | None:
        """``get``: without a signing key, the key the entry records is the proof (see the module docstring)."""
        return self.get(key)

    def record(self, key: ActionKey) -> dict[str, object] | None:
        """The stored fields of the result under ``key`` (its ``signature`` included), checked like ``get``."""
        return self._load(key, self._ac(key), _read_file)

    def _load(self, key: str, path: str, read: Callable[[str], bytes]) -> dict | None:
        try:
            body = json.loads(read(path))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return self._discard(key, path)
        if not isinstance(body, dict):
            return self._discard(key, path)
        claimed = body.pop("digest", None)
        if claimed != hashlib.sha256(canonical_json(body).encode()).hexdigest():
            return self._discard(key, path)
        if body.get("key") != key:  # copied from another action's path (or written before results were bound)
            return self._discard(key, path)
        return body

    def get(self, key: ActionKey) -> CachedResult | None:
        path = self._ac(key)
        body = self._load(key, path, _read_and_touch)
        if body is None:
            return None
        try:
            action, status, summary, log = str(body["action"]), body["status"], str(body["summary"]), str(body["log"])
            duration_s, artifacts = float(body["duration_s"]), dict(body.get("artifacts") or {})
            blobs = [str(d).removeprefix("sha256:") for d in artifacts.values()]
        except (KeyError, TypeError, ValueError, AttributeError):
            return self._discard(key, path)
        if log != _EMPTY:
            blobs.append(log)
        if not all(os.path.isfile(self._cas(d)) for d in blobs):  # a hit needs every referenced blob
            return self._discard(key, path)
        if log == _EMPTY:
            outcome: Outcome = Outcome(status, summary, "", freeze(artifacts))
        else:
            outcome = StoredOutcome(status, summary, freeze(artifacts), partial(self._read_log, key, log))
        return CachedResult(action, outcome, duration_s)

    def _read_log(self, key: str, digest: str) -> str:
        data = self.get_blob(digest)  # verified here, when the log is read
        if data is None:
            self._discard(key, self._ac(key))
            return f"(the stored log sha256:{digest} is missing or corrupt; the result was removed from the cache)"
        return data.decode("utf-8", "replace")

    def _discard(self, key: str, path: str) -> None:
        self.corrupt.append(key)
        with contextlib.suppress(FileNotFoundError):  # already gone: nothing to remove
            os.unlink(path)
        return None

    def _files(self, top: str | None = None) -> Iterator[os.DirEntry[str]]:
        try:
            entries = list(os.scandir(self._root if top is None else top))
        except OSError:
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from self._files(entry.path)
            elif entry.is_file(follow_symlinks=False):
                yield entry

    def size(self) -> int:
        return sum(entry.stat().st_size for entry in self._files())

    def evict(self) -> int:
        """Remove least recently used results until under 90% of the limit; a blob goes with its last user.

        Blobs no result references (left by removed results or an interrupted run) go first. The
        size counts the blobs a removed result frees, not only its own small JSON file.
        """
        sizes = {entry.path: entry.stat() for entry in self._files()}
        total = sum(st.st_size for st in sizes.values())
        if total <= self.max_bytes:
            return 0
        ac, cas = f"{self._root}/ac/", f"{self._root}/cas/"
        uses: dict[str, list[str]] = {}  # result path -> the blob paths it references
        for path in sizes:
            if path.startswith(ac) and path.endswith(".json"):
                uses[path] = self._references(path)
        users = Counter(blob for blobs in uses.values() for blob in set(blobs))
        for path, st in sizes.items():
            if path.startswith(cas) and not users[path]:
                total -= self._remove(path, st.st_size)
        removed = 0
        for path in sorted(uses, key=lambda p: sizes[p].st_mtime):
            if total <= self.max_bytes * 0.9:
                break
            total -= self._remove(path, sizes[path].st_size)
            removed += 1
            for blob in set(uses[path]):
                users[blob] -= 1
                if not users[blob] and blob in sizes:
                    total -= self._remove(blob, sizes[blob].st_size)
        return removed

    def _references(self, path: str) -> list[str]:
        """The blob paths a stored result references (none if it cannot be read: it is garbage too)."""
        try:
            with open(path, "rb") as handle:
                body = json.loads(handle.read())
            digests = [str(body["log"]), *(str(d).removeprefix("sha256:") for d in body.get("artifacts", {}).values())]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return []
        return [self._cas(d) for d in digests]

    @staticmethod
    def _remove(path: str, size: int) -> int:
        with contextlib.suppress(FileNotFoundError):  # already gone: nothing to remove
            os.unlink(path)
        return size
