"""One deploy at a time per environment: a lease lock with fencing tokens.

A lease is held until it expires (a crashed deploy never blocks an environment forever) and must be
renewed by a long deploy. Every acquisition gets a token strictly greater than any earlier one of that
environment, releases included, so a deploy that lost its lease (it stalled past expiry and another
took over) is refused by ``check`` before its next write: the fence. Every acquisition also writes the
environment's fence record (``envs/<env>/fence.json``: the greatest token ever issued and the holders
whose lease was taken over), so tokens stay monotonic even if the lease record is lost, and the next
deploy can reconcile what a fenced-out deploy left behind. A ``Heartbeat`` renews a lease in the
background while a long step runs.

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
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from graphbuild.errors import FencingError, StateError, StaleStateError
from graphbuild.state.definition import StateReader, StateStore, check_part

__all__ = ["Fence", "Heartbeat", "Lease", "Leases", "fence_key", "lease_key", "read_fence", "read_lease"]

_T = TypeVar("_T")
_FENCED_OUT_KEPT = 100  # takeovers remembered in the fence record, newest last


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


@dataclass(frozen=True, slots=True)
class Fence:
    """An environment's fence record: the greatest token issued and the tokens whose lease was taken over."""

    token: int = 0
    holder: str = ""
    fenced_out: tuple[int, ...] = ()


def fence_key(env: str) -> str:
    """The state key of an environment's fence record.

    >>> fence_key("prod")
    'envs/prod/fence.json'
    """
    return f"envs/{check_part(env)}/fence.json"


def read_fence(reader: StateReader, env: str) -> Fence:
    """The fence record of ``env`` (an empty one before its first lease)."""
    key = fence_key(env)
    raw = reader.read(key)
    if raw is None:
        return Fence()
    fix = ("restore it from a backup, or write {\"token\": N, \"holder\": \"\"} with N the greatest lease token "
           "in the journals and the audit trail")
    return _parse("fence", key, raw, fix, lambda body: Fence(
        int(body["token"]), str(body["holder"]), tuple(int(t) for t in body.get("fenced_out", ()))))


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
            fence = read_fence(self.store, env)
            lease = Lease(env, holder, max(current.token if current else 0, fence.token) + 1, now + ttl_s, ttl_s)
            taken_over = current if current is not None and not released else None  # it expired unreleased
            # The fence is written before the lease record: a crash between the two leaves the fence ahead,
            # which only over-fences (the expired holder is fenced out, the new token is never used). The
            # other order could crash after the takeover and lose ``fenced_out``: an under-fence.
            self._write_fence(fence, lease, taken_over)
            if not self.store.compare_and_swap(key, raw, _encode(lease, released=False)):
                raise StaleStateError(f"the lease of environment {env!r} changed while it was being taken", fix="retry")
            return lease

    def _write_fence(self, fence: Fence, issued: Lease, fenced_out: Lease | None) -> None:
        """Raise the fence to ``issued``'s token (``holder`` always names the holder of the fence's token) and
        record ``fenced_out``'s token as taken over."""
        # not twice: a takeover that crashed before its lease write already recorded it
        taken = (fenced_out.token,) if fenced_out is not None and fenced_out.token not in fence.fenced_out else ()
        tokens = fence.fenced_out + taken
        token, holder = (issued.token, issued.holder) if issued.token > fence.token else (fence.token, fence.holder)
        body = {"token": token, "holder": holder, "fenced_out": list(tokens[-_FENCED_OUT_KEPT:])}
        self.store.write(fence_key(issued.env), json.dumps(body, sort_keys=True).encode())

    def renew(self, lease: Lease, ttl_s: float | None = None) -> Lease:
        """Extend a lease still held by its holder; ``FencingError`` if it was lost."""
        with self.store.lock(lease_key(lease.env)):
            return self._renew(lease, self.check(lease), ttl_s)

    def _renew(self, lease: Lease, raw: bytes, ttl_s: float | None = None) -> Lease:
        """Extend a checked lease whose stored record is ``raw``; the caller holds the lease's lock."""
        ttl = lease.ttl_s if ttl_s is None else ttl_s
        renewed = Lease(lease.env, lease.holder, lease.token, self.clock() + ttl, ttl)
        if not self.store.compare_and_swap(lease_key(lease.env), raw, _encode(renewed, released=False)):
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
            # fence first, as in ``acquire``: a crash in between can list a holder that kept its lease as
            # fenced out (its switches are reported once more by the next deploy), never miss a broken one
            self._write_fence(read_fence(self.store, env), current, current)  # its holder is fenced out
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
        fence = read_fence(self.store, lease.env)
        if fence.token > lease.token:  # the lease record was lost or rewritten: the fence still knows
            raise FencingError(
                f"the fence of environment {lease.env!r} is at token {fence.token} ({fence.holder}), "
                f"past this lease's token {lease.token}",
                fix=fix,
            )
        if self.clock() >= current.expires_at:
            raise FencingError(
                f"the lease of environment {lease.env!r} (token {lease.token}) expired at {_when(current.expires_at)}",
                fix="renew the lease more often than its time to live, or give deploys a longer lease; then rerun",
            )
        return raw  # type: ignore[return-value]

    @contextmanager
    def fenced(self, lease: Lease, *, renew: bool = False) -> Iterator[None]:
        """Run a write only while ``lease`` is live: no takeover can happen between the check and the write.

        The lease's lock is held meanwhile, so a ``Heartbeat`` waits for the write. With ``renew`` the lease
        is first extended to a full time to live: a write shorter than that cannot outlive the lease.

        >>> # with leases.fenced(lease): store.append_line(...)
        """
        with self.store.lock(lease_key(lease.env)):
            raw = self.check(lease)
            if renew and lease.ttl_s > 0:
                self._renew(lease, raw)
            yield


class Heartbeat:
    """Renews a lease in a background thread every ``interval_s`` (a third of its time to live) while a step runs.

    A lease lost meanwhile (taken over, released, expired) stops the beat and is kept in ``lost``; the
    caller's next fenced write fails anyway.

    >>> # with Heartbeat(leases, lease) as beat: run_the_step(); lease = beat.lease
    """

    def __init__(self, leases: Leases, lease: Lease, interval_s: float | None = None) -> None:
        self.leases = leases
        self.interval_s = interval_s if interval_s is not None else max(lease.ttl_s / 3, 0.01)
        self.lost: FencingError | None = None
        self._lease = lease
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def lease(self) -> Lease:
        """The lease as last renewed."""
        with self._lock:
            return self._lease

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                renewed = self.leases.renew(self.lease)
            except FencingError as error:
                self.lost = error
                return
            except StateError:
                continue  # the store did not answer this time: the next beat retries before expiry
            with self._lock:
                self._lease = renewed

    def __enter__(self) -> Heartbeat:
        self._thread = threading.Thread(target=self._beat, name=f"graphbuild-lease-{self._lease.env}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def _encode(lease: Lease, *, released: bool) -> bytes:
    return json.dumps({**lease.to_dict(), "released": released}, sort_keys=True).encode()


def _decode(raw: bytes | None, key: str) -> tuple[Lease | None, bool]:
    if raw is None:
        return None, False
    fix = ("check that no deploy of this environment is running, then restore the file from a backup "
           "or delete it (the fence record keeps the next token greater)")
    return _parse("lease", key, raw, fix, lambda body: (
        Lease(str(body["env"]), str(body["holder"]), int(body["token"]), float(body["expires_at"]), float(body.get("ttl_s", 0.0))),
        bool(body.get("released", False))))


def _parse(record: str, key: str, raw: bytes, fix: str, build: Callable[[Any], _T]) -> _T:
    """``build`` the parsed JSON of a state record; a malformed one is a ``StateError`` naming its key and the fix."""
    try:
        return build(json.loads(raw))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise StateError(f"the {record} record is unreadable ({error})", file=key, fix=fix) from error


def read_lease(reader: StateReader, env: str) -> Lease | None:
    """The lease record of ``env`` as a reader sees it (for ``status``), released or not."""
    return _decode(reader.read(lease_key(env)), lease_key(env))[0]
