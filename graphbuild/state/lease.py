"""One deploy at a time per environment: a lease lock with fencing tokens.

A lease is held until it expires (a crashed deploy never blocks an environment forever) and must be
renewed by a long deploy. Every acquisition gets a token strictly greater than any earlier one of that
environment, releases included, so a deploy that lost its lease (it stalled past expiry and another
took over) is refused by ``check`` before its next write: the fence.

>>> import tempfile; tmp = tempfile.TemporaryDirectory()
>>> from graphbuild.state import LocalStore
>>> now = [1000.0]
>>> leases = Leases(LocalStore(tmp.name), clock=lambda: now[0])
>>> first = leases.acquire("dev", "alice@laptop", ttl_s=60)
>>> first.token
1
>>> now[0] += 61  # alice's deploy stalls past its lease
>>> leases.acquire("dev", "bob@ci", ttl_s=60).token
2
>>> leases.check(first)
Traceback (most recent call last):
...
graphbuild.errors.FencingError: the lease of environment 'dev' (token 1) was taken over by bob@ci (token 2) (fix: stop this deploy; rerun it once the other one has finished)
>>> tmp.cleanup()
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from graphbuild.errors import FencingError, StateError, StaleStateError
from graphbuild.state.definition import StateReader, StateStore, check_part

__all__ = ["Lease", "Leases", "lease_key", "read_lease"]


@dataclass(frozen=True, slots=True)
class Lease:
    """A held lease: the right to change ``env`` until ``expires_at`` (seconds since the epoch)."""

    env: str
    holder: str
    token: int
    expires_at: float
    ttl_s: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {"env": self.env, "holder": self.holder, "token": self.token, "expires_at": self.expires_at, "ttl_s": self.ttl_s}


def lease_key(env: str) -> str:
    """The state key of an environment's lease.

    >>> lease_key("prod")
    'envs/prod/lease.json'
    """
    return f"envs/{check_part(env)}/lease.json"


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Leases:
    """The lease locks of every environment in one store."""

    def __init__(self, store: StateStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def acquire(self, env: str, holder: str, ttl_s: float) -> Lease:
        """Take the lease of ``env`` for ``ttl_s`` seconds; ``StateError`` naming the holder if it is held."""
        if ttl_s <= 0:
            raise StateError(f"a lease needs a positive time to live, not {ttl_s}", fix="pass ttl_s > 0")
        key = lease_key(env)
        with self.store.lock(key):
            raw = self.store.read(key)
            current, released = _decode(raw, key)
            now = self.clock()
            if current is not None and not released and now < current.expires_at:
                raise StateError(
                    f"environment {env!r} is being deployed by {current.holder} (lease token {current.token}, "
                    f"expires {_when(current.expires_at)})",
                    fix="wait for that deploy to finish or its lease to expire; if you have checked that it is "
                    "no longer running, rerun with --force-unlock",
                )
            lease = Lease(env, holder, (current.token if current else 0) + 1, now + ttl_s, ttl_s)
            if not self.store.compare_and_swap(key, raw, _encode(lease, released=False)):
                raise StaleStateError(f"the lease of environment {env!r} changed while it was being taken", fix="retry")
            return lease

    def renew(self, lease: Lease, ttl_s: float | None = None) -> Lease:
        """Extend a lease still held by its holder; ``FencingError`` if it was lost."""
        key = lease_key(lease.env)
        with self.store.lock(key):
            raw = self.check(lease)
            ttl = lease.ttl_s if ttl_s is None else ttl_s
            renewed = Lease(lease.env, lease.holder, lease.token, self.clock() + ttl, ttl)
            if not self.store.compare_and_swap(key, raw, _encode(renewed, released=False)):
                raise FencingError(f"the lease of environment {lease.env!r} changed while it was being renewed")
            return renewed

    def release(self, lease: Lease) -> bool:
        """Give the lease up; False (and nothing changed) if it was already released or taken over.

        The record stays, marked released, so the next token is still greater.
        """
        key = lease_key(lease.env)
        with self.store.lock(key):
            raw = self.store.read(key)
            current, released = _decode(raw, key)
            if current is None or released or current.token != lease.token:
                return False
            return self.store.compare_and_swap(key, raw, _encode(current, released=True))

    def force_unlock(self, env: str) -> Lease | None:
        """Release whatever lease ``env`` has (``--force-unlock``); return it, or None if it was free.

        The broken holder's next fenced write fails with ``FencingError``.
        """
        key = lease_key(env)
        with self.store.lock(key):
            raw = self.store.read(key)
            current, released = _decode(raw, key)
            if current is None or released:
                return None
            self.store.compare_and_swap(key, raw, _encode(current, released=True))
            return current

    def current(self, env: str) -> Lease | None:
        """The lease of ``env`` unless it is free (released or never taken); it may have expired."""
        current, released = _decode(self.store.read(lease_key(env)), lease_key(env))
        return None if released else current

    def check(self, lease: Lease) -> bytes:
        """Raise ``FencingError`` unless ``lease`` is still the live lease of its environment.

        Returns the stored lease record. Pair it with the write it guards inside ``fenced``.
        """
        key = lease_key(lease.env)
        raw = self.store.read(key)
        current, released = _decode(raw, key)
        fix = "stop this deploy; rerun it once the other one has finished"
        if current is None:
            raise FencingError(f"environment {lease.env!r} has no lease record (token {lease.token} is unknown)", fix=fix)
        if current.token != lease.token:
            raise FencingError(
                f"the lease of environment {lease.env!r} (token {lease.token}) was taken over by "
                f"{current.holder} (token {current.token})",
                fix=fix,
            )
        if released:
            raise FencingError(f"the lease of environment {lease.env!r} (token {lease.token}) was released", fix=fix)
        if self.clock() >= current.expires_at:
            raise FencingError(
                f"the lease of environment {lease.env!r} (token {lease.token}) expired at {_when(current.expires_at)}",
                fix="renew the lease more often than its time to live, or give deploys a longer lease; then rerun",
            )
        return raw  # type: ignore[return-value]

    @contextmanager
    def fenced(self, lease: Lease) -> Iterator[None]:
        """Run a write only while ``lease`` is live: no takeover can happen between the check and the write.

        >>> # with leases.fenced(lease): store.append_line(...)
        """
        with self.store.lock(lease_key(lease.env)):
            self.check(lease)
            yield


def _encode(lease: Lease, *, released: bool) -> bytes:
    return json.dumps({**lease.to_dict(), "released": released}, sort_keys=True).encode()


def _decode(raw: bytes | None, key: str) -> tuple[Lease | None, bool]:
    if raw is None:
        return None, False
    try:
        body = json.loads(raw)
        lease = Lease(str(body["env"]), str(body["holder"]), int(body["token"]), float(body["expires_at"]), float(body.get("ttl_s", 0.0)))
        return lease, bool(body.get("released", False))
    except (ValueError, KeyError, TypeError) as error:
        raise StateError(
            f"the lease record is unreadable ({error})",
            file=key,
            fix="check that no deploy of this environment is running, then restore the file from a backup "
            "or delete it (the next token restarts at 1)",
        ) from error


def read_lease(reader: StateReader, env: str) -> Lease | None:
    """The lease record of ``env`` as a reader sees it (for ``status``), released or not."""
    return _decode(reader.read(lease_key(env)), lease_key(env))[0]
