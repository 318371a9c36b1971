"""Deploy journals: last state per step, fenced writes, and a crash mid-append that is never fatal."""

from __future__ import annotations

import time

import pytest

from graphbuild.errors import FencingError, StateError
from graphbuild.state import Heartbeat, Journal, Leases, journal_key
from graphbuild.state.journal import Switch, fenced_switch, read_switches, switch_key
from tests.state.conftest import raw_put


@pytest.fixture
def leases(store, clock):
    return Leases(store, clock)


def test_states_are_the_last_entry_per_step(store, leases, clock):
    lease = leases.acquire("dev", "alice", ttl_s=60)
    journal = Journal(store, "dev", "p1", leases=leases)
    journal.record("a", "started", lease)
    journal.record("b", "started", lease)
    journal.record("a", "failed", lease, detail="connection refused")
    clock.advance(1)
    journal.record("a", "started", lease)
    entry = journal.record("a", "succeeded", lease)
    assert (entry.token, entry.holder, entry.time) == (lease.token, "alice", "2026-01-01T00:00:01.000000Z")
    assert journal.states() == {"a": "succeeded", "b": "started"}
    assert journal.succeeded() == frozenset({"a"})
    assert [e.state for e in journal.entries()] == ["started", "started", "failed", "started", "succeeded"]
    assert journal.entries()[2].detail == "connection refused"
    assert Journal(store, "dev", "p2").states() == {}  # per plan
    assert Journal(store, "staging", "p1").states() == {}  # per environment


def test_a_torn_last_line_is_ignored_and_the_journal_goes_on(store, leases):
    lease = leases.acquire("dev", "alice", ttl_s=60)
    journal = Journal(store, "dev", "p1", leases=leases)
    journal.record("a", "succeeded", lease)
    full = store.read(journal_key("dev", "p1"))
    for cut in range(1, len(full)):  # a crash anywhere in the next line
        raw_put(store, journal_key("dev", "p1"), full + full[:cut])
        assert journal.succeeded() == frozenset({"a"})
    raw_put(store, journal_key("dev", "p1"), full + b'{"step": "b", "sta')
    journal.record("b", "succeeded", lease)
    assert journal.succeeded() == frozenset({"a", "b"})
    assert len(journal.entries()) == 2


def test_a_lost_lease_cannot_write(store, leases, clock):
    lease = leases.acquire("dev", "alice", ttl_s=60)
    journal = Journal(store, "dev", "p1", leases=leases)
    journal.record("a", "started", lease)
    clock.advance(61)
    taker = leases.acquire("dev", "bob", ttl_s=60)
    with pytest.raises(FencingError):
        journal.record("a", "succeeded", lease)
    journal.record("a", "succeeded", taker)
    assert [(e.holder, e.token) for e in journal.entries()] == [("alice", 1), ("bob", 2)]
    with pytest.raises(FencingError, match="staging"):
        Journal(store, "staging", "p1", leases=leases).record("a", "started", taker)


def test_bad_input(store, leases):
    lease = leases.acquire("dev", "alice", ttl_s=60)
    with pytest.raises(StateError, match="unknown step state"):
        Journal(store, "dev", "p1", leases=leases).record("a", "done", lease)  # type: ignore[arg-type]
    with pytest.raises(StateError, match="invalid state key"):
        Journal(store, "dev", "../p1")
    assert store.read(journal_key("dev", "p1")) is None


def test_a_fenced_switch_is_logged_under_a_live_lease_and_refused_under_a_lost_one(store, leases, clock):
    lease = leases.acquire("dev", "alice", ttl_s=60)
    switched = []
    with fenced_switch(store, leases, lease, "p1", "k1", "//a:a#publish"):
        switched.append("p1")
    assert read_switches(store, "dev") == [Switch(1, "p1", "k1", "//a:a#publish")]
    clock.advance(61)
    leases.acquire("dev", "bob", ttl_s=60)
    with pytest.raises(FencingError, match="taken over by bob"):
        with fenced_switch(store, leases, lease, "p1", "k2", "//b:b#publish"):
            switched.append("late")
    assert switched == ["p1"] and len(read_switches(store, "dev")) == 1
    store.append_line(switch_key("dev"), '{"token": 1, "plan": "p1"')  # torn by a crash
    assert len(read_switches(store, "dev")) == 1


def test_a_switch_near_the_end_of_the_lease_cannot_outlive_it(store, leases, clock):
    """The heartbeat waits on the lease's lock while a switch runs: the switch renews the lease first,
    so a switch that starts with little time left and runs past the old expiry keeps the lease."""
    lease = leases.acquire("dev", "alice", ttl_s=60)
    clock.advance(50)  # 10 s left
    with Heartbeat(leases, lease, interval_s=0.01) as beat:
        with fenced_switch(store, leases, lease, "p1", "k1", "//a:a#publish"):
            clock.advance(30)  # the switch runs past the lease's old expiry; the heartbeat is blocked
            time.sleep(0.05)
        deadline = time.monotonic() + 5
        while beat.lease.expires_at < clock.now + 60 and beat.lost is None and time.monotonic() < deadline:
            time.sleep(0.01)  # the heartbeat's first beat after the switch
    assert beat.lost is None
    assert beat.lease.expires_at == clock.now + 60
    leases.check(lease)
    with pytest.raises(StateError, match="being deployed by alice"):
        leases.acquire("dev", "bob", ttl_s=60)
