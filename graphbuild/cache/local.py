"""The local action cache: ``ac/<key>.json`` results referencing ``cas/<sha256>`` blobs, size-bounded.

Every blob is verified against its digest when it is read (a result's log on every hit, an artifact
when it is used) and every result carries a digest of its own content; a corrupt entry is reported once, removed and treated as a miss. When the folder grows past
its limit, the least recently used entries go first.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from graphbuild.cache.definition import ActionKey, CachedResult
from graphbuild.fsutil import atomic_write
from graphbuild.run.action import Outcome
from graphbuild.values import canonical_json, freeze

__all__ = ["LocalCache"]


class LocalCache:
    def __init__(self, directory: Path, max_bytes: int = 2 * 1024**3) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.corrupt: list[str] = []  # keys found corrupt this run (reported once by the caller)
        self.written = 0  # entries and blobs stored by this instance

    def _ac(self, key: str) -> Path:
        return self.directory / "ac" / key[:2] / f"{key}.json"

    def _cas(self, digest: str) -> Path:
        return self.directory / "cas" / digest[:2] / digest

    def put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._cas(digest)
        if not path.exists():
            atomic_write(path, data)
            self.written += 1
        return digest

    def get_blob(self, digest: str) -> bytes | None:
        try:
            data = self._cas(digest).read_bytes()
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == digest else None

    def put(self, key: ActionKey, result: CachedResult) -> None:
        body = {
            "action": result.action_id,
            "status": result.outcome.status,
            "summary": result.outcome.summary,
            "log": self.put_blob(result.outcome.log.encode()),
            "artifacts": dict(result.outcome.artifacts),
            "duration_s": round(result.duration_s, 3),
        }
        body["digest"] = hashlib.sha256(canonical_json(body).encode()).hexdigest()
        atomic_write(self._ac(key), json.dumps(body, sort_keys=True))
        self.written += 1

    def contains(self, key: ActionKey) -> bool:
        """Whether a result is stored under ``key`` (not verified: ``get`` does that)."""
        return self._ac(key).is_file()

    def get_many(self, keys: list[ActionKey]) -> list[CachedResult | None]:
        return [self.get(key) for key in keys]

    def get(self, key: ActionKey) -> CachedResult | None:
        path = self._ac(key)
        try:
            body = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return self._discard(key, path)
        if not isinstance(body, dict):
            return self._discard(key, path)
        claimed = body.pop("digest", None)
        if claimed != hashlib.sha256(canonical_json(body).encode()).hexdigest():
            return self._discard(key, path)
        log = self.get_blob(body["log"])  # read, so verified now
        artifacts = body.get("artifacts", {})
        # a hit needs every referenced blob present; an artifact is verified when it is read (get_blob)
        if log is None or not all(self._cas(str(d).removeprefix("sha256:")).is_file() for d in artifacts.values()):
            return self._discard(key, path)
        now = time.time()
        os.utime(path, (now, now))  # recently used: evicted last
        outcome = Outcome(body["status"], body["summary"], log.decode("utf-8", "replace"), freeze(artifacts))
        return CachedResult(body["action"], outcome, float(body["duration_s"]))

    def _discard(self, key: str, path: Path) -> None:
        self.corrupt.append(key)
        path.unlink(missing_ok=True)
        return None

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file())

    def evict(self) -> int:
        """Remove least recently used results (and unreferenced blobs) until under 90% of the limit."""
        files = [p for p in self.directory.rglob("*") if p.is_file()]
        total = sum(p.stat().st_size for p in files)
        if total <= self.max_bytes:
            return 0
        removed = 0
        results = sorted((p for p in files if p.parent.parent.name == "ac"), key=lambda p: p.stat().st_mtime)
        for path in results:
            if total <= self.max_bytes * 0.9:
                break
            total -= path.stat().st_size
            path.unlink(missing_ok=True)
            removed += 1
        referenced = set()
        for path in (self.directory / "ac").rglob("*.json"):
            try:
                body = json.loads(path.read_text())
                referenced.add(body["log"])
                referenced.update(str(d).removeprefix("sha256:") for d in body.get("artifacts", {}).values())
            except (OSError, ValueError, KeyError, AttributeError):
                continue
        for path in (self.directory / "cas").rglob("*"):
            if path.is_file() and path.name not in referenced:
                path.unlink(missing_ok=True)
        return removed
