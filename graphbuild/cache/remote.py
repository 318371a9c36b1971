"""The shared remote cache on S3: signed results, verified blobs, timeouts and a circuit breaker.

Layout under ``s3://bucket/prefix/``: ``cas/<sha256>`` holds blobs (logs, artifacts) and
``ac/<sha256(salt, key)>`` holds action results, each a JSON body signed with HMAC-SHA256 over its
canonical form and the salt, the action key included (a valid result copied under another key, or
under another salt's name, does not verify). A local copy of a remote hit keeps its signature, so it
can be verified again later (``verifies``), as promotion does with verdicts.
A result is a hit only when its signature verifies and every blob it references is present and
matches its digest; anything else is a miss, recorded in ``CacheStats.rejected``. Every call has a
timeout; after ``failure_threshold`` failed calls in a row the breaker stops calling the remote for
``cooldown_s`` and the run goes on with the local cache. Only writers upload; nothing here raises on
an outage.

>>> sign(b"k", {"key": "ab", "status": "passed"}, salt="2026-11")[:16]
'2550048cb5f6cbeb'
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphbuild.cache.definition import ActionKey, CachedResult
from graphbuild.run.action import Outcome
from graphbuild.values import canonical_json, freeze

__all__ = ["CacheStats", "CircuitBreaker", "S3Cache", "sign"]


_SIGNED = ("key", "action", "status", "summary", "log", "artifacts", "duration_s")  # what a signature covers


def sign(key: bytes, body: Mapping[str, Any], salt: str = "") -> str:
    """HMAC-SHA256 of ``body`` and ``salt``: a result signed under one salt does not verify under another."""
    return hmac.new(key, canonical_json([salt, body]).encode(), hashlib.sha256).hexdigest()


@dataclass
class CacheStats:
    """What the caches did during one run; thread-safe counters, reported in the run summary."""

    local_hits: int = 0
    remote_hits: int = 0
    misses: int = 0
    bytes_down: int = 0
    bytes_up: int = 0
    uploads: int = 0
    remote_errors: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (key, why) of remote entries refused
    warnings: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def reject(self, key: str, why: str) -> None:
        with self._lock:
            self.rejected.append((key, why))

    def warn(self, text: str) -> None:
        with self._lock:
            if text not in self.warnings:
                self.warnings.append(text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "local_hits": self.local_hits,
            "remote_hits": self.remote_hits,
            "misses": self.misses,
            "bytes_down": self.bytes_down,
            "bytes_up": self.bytes_up,
            "uploads": self.uploads,
            "remote_errors": self.remote_errors,
            "rejected": [{"key": k, "why": w} for k, w in self.rejected],
            "warnings": list(self.warnings),
        }


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; lets one call through after ``cooldown_s``."""

    def __init__(self, threshold: int, cooldown_s: float, on_open: Callable[[], None], clock: Callable[[], float] = time.monotonic):
        self.threshold, self.cooldown_s, self.on_open, self.clock = threshold, cooldown_s, on_open, clock
        self.failures = 0
        self.opened_at: float | None = None
        self._lock = threading.Lock()

    def is_open(self) -> bool:
        with self._lock:
            if self.opened_at is None:
                return False
            if self.clock() - self.opened_at >= self.cooldown_s:
                self.opened_at = None  # half-open: the next call decides
                self.failures = self.threshold - 1
                return False
            return True

    def succeeded(self) -> None:
        with self._lock:
            self.failures = 0

    def failed(self) -> None:
        with self._lock:
            self.failures += 1
            opening = self.failures >= self.threshold and self.opened_at is None
            if opening:
                self.opened_at = self.clock()
        if opening:
            self.on_open()


class _Missing(Exception):
    """The object does not exist (a plain miss, not a failure)."""


class S3Cache:
    """A ``Cache`` over an S3 bucket (any S3-compatible endpoint); see the module docstring."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        *,
        signing_key: bytes,
        salt: str = "",
        is_writer: bool = False,
        breaker: CircuitBreaker | None = None,
        stats: CacheStats | None = None,
    ) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")
        self.signing_key, self.salt, self.is_writer = signing_key, salt, is_writer
        self.stats = stats if stats is not None else CacheStats()
        self.breaker = breaker or CircuitBreaker(3, 60.0, self._opened)

    def _opened(self) -> None:
        self.stats.warn(
            f"remote cache s3://{self.bucket}/{self.prefix} is not answering; "
            f"continuing on the local cache (retrying in {self.breaker.cooldown_s:g} s)"
        )

    def _path(self, kind: str, name: str) -> str:
        return "/".join(p for p in (self.prefix, kind, name) if p)

    def _ac_name(self, key: str) -> str:
        return hashlib.sha256(f"{self.salt}\0{key}".encode()).hexdigest()

    # --- S3 calls: every one guarded by the breaker; failures never escape

    def _call(self, fn: Callable[[], Any]) -> Any:
        import botocore.exceptions

        if self.breaker.is_open():
            raise ConnectionError("circuit open")
        try:
            value = fn()
        except botocore.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in ("NoSuchKey", "404", "NotFound") or status == 404:
                self.breaker.succeeded()
                raise _Missing() from None
            self._failed(f"{code or status}")
            raise ConnectionError(code) from None
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            self._failed(type(exc).__name__)
            raise ConnectionError(str(exc)) from None
        self.breaker.succeeded()
        return value

    def _failed(self, what: str) -> None:
        self.stats.add(remote_errors=1)
        self.breaker.failed()

    def _read(self, path: str) -> bytes | None:
        try:
            answer = self._call(lambda: self.client.get_object(Bucket=self.bucket, Key=path))
            data = self._call(lambda: answer["Body"].read())
        except (_Missing, ConnectionError):
            return None
        self.stats.add(bytes_down=len(data))
        return data

    def _exists(self, path: str) -> bool | None:
        try:
            self._call(lambda: self.client.head_object(Bucket=self.bucket, Key=path))
        except _Missing:
            return False
        except ConnectionError:
            return None
        return True

    def _write(self, path: str, data: bytes) -> bool:
        try:
            self._call(lambda: self.client.put_object(Bucket=self.bucket, Key=path, Body=data))
        except (_Missing, ConnectionError):
            return False
        self.stats.add(bytes_up=len(data))
        return True

    # --- the Cache protocol

    def get_blob(self, digest: str) -> bytes | None:
        data = self._read(self._path("cas", digest))
        if data is None or hashlib.sha256(data).hexdigest() != digest:
            return None
        return data

    def put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if self.is_writer and self._exists(self._path("cas", digest)) is False:
            self._write(self._path("cas", digest), data)
        return digest

    def fetch(self, key: ActionKey) -> tuple[CachedResult, dict[str, bytes], str] | None:
        """A verified result, the blobs it references (digest -> bytes) and its signature, or None (a miss)."""
        raw = self._read(self._path("ac", self._ac_name(key)))
        if raw is None:
            return None
        try:
            body = json.loads(raw)
            assert isinstance(body, dict)
            signature = body.pop("signature", None)
        except (ValueError, AssertionError):
            return self._reject(key, "unreadable result")
        if not isinstance(signature, str):
            return self._reject(key, "unsigned result")
        if not hmac.compare_digest(signature, sign(self.signing_key, body, self.salt)):
            return self._reject(key, "signature does not verify (forged, or signed with another key)")
        if body.get("key") != key or body.get("status") != "passed":
            return self._reject(key, "result signed for another key or not a pass")
        try:
            artifacts = {str(k): str(v) for k, v in dict(body.get("artifacts") or {}).items()}
            wanted = [str(body["log"]), *(d.removeprefix("sha256:") for d in artifacts.values())]
            result = CachedResult(str(body["action"]), Outcome("passed", str(body["summary"])), float(body["duration_s"]))
        except (KeyError, TypeError, ValueError):
            return self._reject(key, "malformed result")
        blobs: dict[str, bytes] = {}
        for digest in wanted:
            data = blobs.get(digest) or self.get_blob(digest)
            if data is None:
                return self._reject(key, f"referenced blob {digest[:12]} is missing or does not match its digest")
            blobs[digest] = data
        outcome = Outcome("passed", result.outcome.summary, blobs[wanted[0]].decode("utf-8", "replace"), freeze(artifacts))
        return CachedResult(result.action_id, outcome, result.duration_s), blobs, signature

    def signature_of(self, key: str, record: Mapping[str, Any]) -> str:
        """The signature this cache gives a stored result (``record``: its fields, as a local copy keeps them)."""
        return sign(self.signing_key, {name: record.get(name) for name in _SIGNED}, self.salt)

    def verifies(self, key: str, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` (a local copy's fields and its kept ``signature``) is a pass signed for ``key``."""
        signature = record.get("signature")
        return (
            isinstance(signature, str)
            and record.get("key") == key
            and record.get("status") == "passed"
            and hmac.compare_digest(signature, self.signature_of(key, record))
        )

    def _reject(self, key: str, why: str) -> None:
        self.stats.reject(key, why)
        return None

    def get(self, key: ActionKey) -> CachedResult | None:
        found = self.fetch(key)
        return found[0] if found else None

    def get_verified(self, key: ActionKey) -> CachedResult | None:
        return self.get(key)  # every remote hit is signed and verified

    def get_many(self, keys: list[ActionKey]) -> list[CachedResult | None]:
        with ThreadPoolExecutor(max_workers=16, thread_name_prefix="graphbuild-lookup") as pool:
            return list(pool.map(self.get, keys))

    def contains(self, key: ActionKey) -> bool:
        return False  # every answer from the remote is a network call: nothing here is "without asking"

    def put(self, key: ActionKey, result: CachedResult) -> None:
        if not self.is_writer or result.outcome.status != "passed":
            return
        log = result.outcome.log.encode()
        body = {
            "key": key,
            "action": result.action_id,
            "status": "passed",
            "summary": result.outcome.summary,
            "log": hashlib.sha256(log).hexdigest(),
            "artifacts": dict(result.outcome.artifacts),
            "duration_s": round(result.duration_s, 3),
        }
        self.put_blob(log)
        body["signature"] = sign(self.signing_key, body, self.salt)
        if self._write(self._path("ac", self._ac_name(key)), canonical_json(body).encode()):
            self.stats.add(uploads=1)
