"""The environment pointer: which plan an environment runs now, and every plan it ever ran.

The pointer moves by compare-and-swap under a fenced lease, and only from the plan the caller
expected: a deploy planned against an environment that has moved since is refused with
``StaleStateError``. Every value the pointer takes is appended to the environment's history, so a
rollback can go back to any earlier plan and an auditor can see every move.

>>> import tempfile; tmp = tempfile.TemporaryDirectory()
>>> from graphbuild.state import Leases, LocalStore
>>> store = LocalStore(tmp.name)
>>> lease = Leases(store).acquire("dev", "alice@laptop", ttl_s=60)
>>> pointers = Pointers(store)
>>> first = pointers.move("dev", None, Pointer("dev", "p1", "c0ffee", moved_by="alice"), lease)
>>> second = pointers.move("dev", "p1", Pointer("dev", "p2", "beef42", "2026-01-05T09:00:00Z", "alice"), lease)
>>> second.previous, second.position
('p1', 1)
>>> [p.plan_id for p in pointers.history("dev")]
['p1', 'p2']
>>> pointers.move("dev", "p1", Pointer("dev", "p3", "facade", moved_by="bob"), lease)
Traceback (most recent call last):
...
graphbuild.errors.StaleStateError: environment 'dev' moved: expected plan p1, it runs plan p2 (moved by alice at 2026-01-05T09:00:00Z) (fix: make a new plan for the environment as it is now (graphbuild plan), then deploy that)
>>> tmp.cleanup()
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from graphbuild.errors import FencingError, StaleStateError, StateError
from graphbuild.state.definition import StateReader, StateStore, check_part
from graphbuild.state.lease import Lease, Leases

__all__ = ["Pointer", "Pointers", "history_key", "pointer_key"]


@dataclass(frozen=True, slots=True)
class Pointer:
    """An environment's current plan.

    ``move`` fills in ``moved_at`` (when empty), ``previous`` (the plan it replaced) and ``position``
    (its index in the history).
    """

    env: str
    plan_id: str
    commit: str
    moved_at: str = ""  # UTC, ISO-8601
    moved_by: str = ""
    previous: str | None = None
    position: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "plan_id": self.plan_id,
            "commit": self.commit,
            "moved_at": self.moved_at,
            "moved_by": self.moved_by,
            "previous": self.previous,
            "position": self.position,
        }

    @classmethod
    def from_dict(cls, body: Any) -> Pointer:
        previous = body["previous"]
        return cls(
            str(body["env"]),
            str(body["plan_id"]),
            str(body["commit"]),
            str(body["moved_at"]),
            str(body["moved_by"]),
            None if previous is None else str(previous),
            int(body["position"]),
        )


def pointer_key(env: str) -> str:
    """The state key of an environment's pointer.

    >>> pointer_key("prod")
    'envs/prod/pointer.json'
    """
    return f"envs/{check_part(env)}/pointer.json"


def history_key(env: str) -> str:
    """The state key of an environment's pointer history (JSON lines, append-only).

    >>> history_key("prod")
    'envs/prod/pointer-history.jsonl'
    """
    return f"envs/{check_part(env)}/pointer-history.jsonl"


def _encode(pointer: Pointer) -> str:
    return json.dumps(pointer.to_dict(), sort_keys=True)


class Pointers:
    """The pointers of every environment in one store (a ``StateReader`` is enough to read)."""

    def __init__(self, store: StateReader | StateStore, *, leases: Leases | None = None) -> None:
        self.store = store
        self.leases = leases if leases is not None else Leases(store)  # type: ignore[arg-type]

    def current(self, env: str) -> Pointer | None:
        """The plan ``env`` runs now, or None before its first deploy."""
        return self._read(env)[1]

    def _read(self, env: str) -> tuple[bytes | None, Pointer | None]:
        key = pointer_key(env)
        raw = self.store.read(key)
        if raw is None:
            return None, None
        try:
            return raw, Pointer.from_dict(json.loads(raw))
        except (ValueError, KeyError, TypeError) as error:
            raise StateError(
                f"the pointer of environment {env!r} is unreadable ({error})",
                file=key,
                fix="restore it from the last line of its history (pointer-history.jsonl)",
            ) from error

    def move(self, env: str, expected_plan_id: str | None, new: Pointer, lease: Lease) -> Pointer:
        """Point ``env`` at ``new.plan_id`` if it still runs ``expected_plan_id``; return the stored pointer.

        Raises ``StaleStateError`` when the environment moved, ``FencingError`` when ``lease`` was lost.
        """
        if new.env != env:
            raise StateError(f"a pointer of environment {new.env!r} cannot move environment {env!r}")
        if lease.env != env:
            raise FencingError(f"a lease of environment {lease.env!r} cannot move environment {env!r}")
        store: StateStore = self.store  # type: ignore[assignment]
        with self.leases.fenced(lease):
            raw, current = self._read(env)
            found = current.plan_id if current else None
            if found != expected_plan_id:
                moved = f" (moved by {current.moved_by} at {current.moved_at})" if current else ""
                raise StaleStateError(
                    f"environment {env!r} moved: expected plan {expected_plan_id or 'none'}, "
                    f"it runs plan {found or 'none'}{moved}",
                    fix="make a new plan for the environment as it is now (graphbuild plan), then deploy that",
                )
            history = self._history_lines(env)
            if current is not None and current.position >= len(history):
                store.append_line(history_key(env), _encode(current))  # an earlier move crashed before its history line
                history.append(current)
            moved_at = new.moved_at or datetime.fromtimestamp(self.leases.clock(), UTC).isoformat(
                timespec="microseconds"
            ).replace("+00:00", "Z")
            stored = replace(new, moved_at=moved_at, previous=found, position=len(history))
            if not store.compare_and_swap(pointer_key(env), raw, _encode(stored).encode()):
                raise StaleStateError(
                    f"environment {env!r} moved while its pointer was being moved",
                    fix="make a new plan for the environment as it is now (graphbuild plan), then deploy that",
                )
            store.append_line(history_key(env), _encode(stored))
            return stored

    def history(self, env: str) -> list[Pointer]:
        """Every value the pointer of ``env`` has had, oldest first."""
        history = self._history_lines(env)
        current = self.current(env)
        if current is not None and current.position >= len(history):
            history.append(current)  # its history line was lost to a crash; the next move writes it
        return history

    def _history_lines(self, env: str) -> list[Pointer]:
        raw = self.store.read(history_key(env)) or b""
        history = []
        for line in raw.split(b"\n"):
            if not line.strip():
                continue
            try:
                history.append(Pointer.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                continue  # a line torn by a crash mid-append
        return history
