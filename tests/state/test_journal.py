"""Deploy journals: last state per step, fenced writes, and a crash mid-append that is never fatal."""

from __future__ import annotations

import pytest

from graphbuild.errors import FencingError, StateError
from graphbuild.state import Journal, Leases, journal_key


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
    full = (store.root / journal_key("dev", "p1")).read_bytes()
    for cut in range(1, len(full)):  # a crash anywhere in the next line
        (store.root / journal_key("dev", "p1")).write_bytes(full + full[:cut])
        assert journal.succeeded() == frozenset({"a"})
    (store.root / journal_key("dev", "p1")).write_bytes(full + b'{"step": "b", "sta')
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
