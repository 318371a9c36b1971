"""The journal of one deploy: which steps of a plan started, succeeded or failed in an environment.

A rerun after a crash reads it and skips what already succeeded. Entries are JSON lines appended
durably, each after a fencing check, so a deploy that lost its lease can no longer write. A line torn
by a crash mid-append is skipped when reading, never fatal.

A step's visible switch runs inside ``fenced_switch``, which checks and renews the lease, appends the
switch to the environment's switch log (``envs/<env>/switches.jsonl``) and holds off any takeover until
the switch is done; the next deploy reads that log to reconcile the switches of a fenced-out deploy.

>>> import tempfile; tmp = tempfile.TemporaryDirectory()
>>> from graphbuild.state import Leases, LocalStore
>>> store = LocalStore(tmp.name)
>>> lease = Leases(store).acquire("dev", "alice@laptop", ttl_s=60)
>>> journal = Journal(store, "dev", "3f2a")
>>> _ = journal.record("k1", "started", lease)
>>> _ = journal.record("k1", "succeeded", lease, detail="3 views swapped")
>>> _ = journal.record("k2", "started", lease)
>>> journal.states()
{'k1': 'succeeded', 'k2': 'started'}
>>> sorted(journal.succeeded())
['k1']
>>> tmp.cleanup()
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

from graphbuild.errors import FencingError, StateError
from graphbuild.state.definition import StateReader, StateStore, check_part
from graphbuild.state.lease import Lease, Leases

__all__ = ["Journal", "JournalEntry", "StepState", "Switch", "fenced_switch", "journal_key", "read_switches", "switch_key"]

StepState = Literal["started", "succeeded", "failed"]
_STATES: tuple[str, ...] = get_args(StepState)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One line of a journal."""

    time: str  # UTC, ISO-8601
    step: str  # the step's idempotency key
    state: StepState
    token: int  # the fencing token of the lease the entry was written under
    holder: str
    detail: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "time": self.time,
            "step": self.step,
            "state": self.state,
            "token": self.token,
            "holder": self.holder,
            "detail": self.detail,
        }


def journal_key(env: str, plan_id: str) -> str:
    """The state key of the journal of ``plan_id`` in ``env``.

    >>> journal_key("dev", "3f2a")
    'envs/dev/journal/3f2a.jsonl'
    """
    return f"envs/{check_part(env)}/journal/{check_part(plan_id)}.jsonl"


class Journal:
    """The step states of one plan in one environment.

    ``store`` may be a ``StateReader`` for reading only; ``record`` needs a ``StateStore``.
    """

    def __init__(self, store: StateReader | StateStore, env: str, plan_id: str, *, leases: Leases | None = None) -> None:
        self.store = store
        self.env = env
        self.plan_id = plan_id
        self.key = journal_key(env, plan_id)
        self.leases = leases if leases is not None else Leases(store)  # type: ignore[arg-type]

    def record(self, step_key: str, state: StepState, lease: Lease, detail: str = "") -> JournalEntry:
        """Append a step state, after checking ``lease`` is still live (``FencingError`` if not)."""
        if state not in _STATES:
            raise StateError(f"unknown step state {state!r}", fix=f"use one of {', '.join(_STATES)}")
        if lease.env != self.env:
            raise FencingError(f"a lease of environment {lease.env!r} cannot write the journal of {self.env!r}")
        with self.leases.fenced(lease):
            now = datetime.fromtimestamp(self.leases.clock(), UTC)
            entry = JournalEntry(
                now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
                step_key,
                state,
                lease.token,
                lease.holder,
                detail,
            )
            self.store.append_line(self.key, json.dumps(entry.to_dict(), sort_keys=True))  # type: ignore[union-attr]
            return entry

    def entries(self) -> list[JournalEntry]:
        """Every readable entry, oldest first; torn or unreadable lines are skipped."""
        raw = self.store.read(self.key)
        if not raw:
            return []
        entries = []
        for line in raw.split(b"\n"):
            entry = _parse(line)
            if entry is not None:
                entries.append(entry)
        return entries

    def states(self) -> dict[str, StepState]:
        """The last state of every step that has one, in the order steps first appeared."""
        states: dict[str, StepState] = {}
        for entry in self.entries():
            states[entry.step] = entry.state
        return states

    def succeeded(self) -> frozenset[str]:
        """The steps whose last state is ``succeeded``: a rerun skips them."""
        return frozenset(step for step, state in self.states().items() if state == "succeeded")


def _parse(line: bytes) -> JournalEntry | None:
    if not line.strip():
        return None
    try:
        body = json.loads(line)
        entry = JournalEntry(
            str(body["time"]),
            str(body["step"]),
            body["state"],
            int(body["token"]),
            str(body["holder"]),
            str(body.get("detail", "")),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # a line torn by a crash mid-append
    return entry if entry.state in _STATES else None


@dataclass(frozen=True, slots=True)
class Switch:
    """One visible switch a deploy step made (or a note that a fenced-out token's switches were reconciled)."""

    token: int
    plan_id: str = ""
    step: str = ""  # the step's idempotency key
    step_id: str = ""
    reconciled_by: int = 0  # non-zero: the token of the deploy that reconciled ``token``'s switches


def switch_key(env: str) -> str:
    """The state key of the switch log of ``env``.

    >>> switch_key("dev")
    'envs/dev/switches.jsonl'
    """
    return f"envs/{check_part(env)}/switches.jsonl"


@contextmanager
def fenced_switch(store: StateStore, leases: Leases, lease: Lease, plan_id: str, step_key: str, step_id: str) -> Iterator[None]:
    """Run a step's visible switch only under a live lease, logging it first; ``FencingError`` if the lease was lost.

    The lease is renewed to a full time to live before the switch runs, and no heartbeat or takeover can
    touch it until the switch is done: a switch shorter than the lease's time to live (a backend fences
    only its final write) can never outlive the lease.

    >>> # with fenced_switch(store, leases, lease, plan.id, step.key, step.id): swap_the_view()
    """
    with leases.fenced(lease, renew=True):
        line = {"token": lease.token, "plan": plan_id, "step": step_key, "step_id": step_id}
        store.append_line(switch_key(lease.env), json.dumps(line, sort_keys=True))
        yield


def read_switches(store: StateReader, env: str) -> list[Switch]:
    """Every readable line of the switch log of ``env``, oldest first (torn lines skipped)."""
    switches = []
    for line in (store.read(switch_key(env)) or b"").split(b"\n"):
        try:
            body = json.loads(line)
            switches.append(Switch(int(body["token"]), str(body.get("plan", "")), str(body.get("step", "")),
                                   str(body.get("step_id", "")), int(body.get("reconciled_by", 0))))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return switches
