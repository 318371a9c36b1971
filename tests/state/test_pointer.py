"""Environment pointers: compare-and-swap under a fenced lease, stale moves refused, full history."""

from __future__ import annotations

import json

import pytest

from graphbuild.errors import FencingError, StaleStateError, StateError
from graphbuild.state import Leases, Pointer, Pointers, history_key, pointer_key


@pytest.fixture
def leases(store, clock):
    return Leases(store, clock)


def test_moves_fill_previous_position_and_history(store, leases, clock):
    pointers = Pointers(store, leases=leases)
    lease = leases.acquire("prod", "alice", ttl_s=60)
    assert pointers.current("prod") is None and pointers.history("prod") == []
    first = pointers.move("prod", None, Pointer("prod", "p1", "c1", moved_by="alice"), lease)
    assert (first.previous, first.position, first.moved_at) == (None, 0, "2026-01-01T00:00:00.000000Z")
    pointers.move("prod", "p1", Pointer("prod", "p2", "c2", moved_by="alice"), lease)
    back = pointers.move("prod", "p2", Pointer("prod", "p1", "c1", moved_by="bob"), lease)  # a rollback
    assert (back.previous, back.position) == ("p2", 2)
    assert pointers.current("prod") == back
    assert [(p.plan_id, p.previous, p.position) for p in pointers.history("prod")] == [
        ("p1", None, 0),
        ("p2", "p1", 1),
        ("p1", "p2", 2),
    ]


def test_a_stale_move_is_refused_and_changes_nothing(store, leases):
    pointers = Pointers(store, leases=leases)
    lease = leases.acquire("prod", "alice", ttl_s=60)
    pointers.move("prod", None, Pointer("prod", "p1", "c1", moved_by="alice"), lease)
    before = (store.read(pointer_key("prod")), store.read(history_key("prod")))
    for expected in (None, "p0", "p2"):
        with pytest.raises(StaleStateError, match="moved: expected plan") as error:
            pointers.move("prod", expected, Pointer("prod", "p9", "c9", moved_by="bob"), lease)
        assert "graphbuild plan" in error.value.fix
    assert (store.read(pointer_key("prod")), store.read(history_key("prod"))) == before


def test_a_lost_lease_cannot_move_the_pointer(store, leases, clock):
    pointers = Pointers(store, leases=leases)
    old = leases.acquire("prod", "alice", ttl_s=60)
    clock.advance(60)
    new = leases.acquire("prod", "bob", ttl_s=60)
    with pytest.raises(FencingError):
        pointers.move("prod", None, Pointer("prod", "p1", "c1", moved_by="alice"), old)
    with pytest.raises(FencingError):
        pointers.move("prod", None, Pointer("prod", "p1", "c1", moved_by="bob"), leases.acquire("dev", "bob", ttl_s=60))
    with pytest.raises(StateError):
        pointers.move("prod", None, Pointer("dev", "p1", "c1", moved_by="bob"), new)
    assert pointers.current("prod") is None
    pointers.move("prod", None, Pointer("prod", "p1", "c1", moved_by="bob"), new)


def test_a_history_line_lost_to_a_crash_is_restored(store, leases):
    pointers = Pointers(store, leases=leases)
    lease = leases.acquire("dev", "alice", ttl_s=60)
    pointers.move("dev", None, Pointer("dev", "p1", "c1", moved_by="alice"), lease)
    # a crash after the compare-and-swap, before the history line
    crashed = Pointer("dev", "p2", "c2", "2026-01-01T00:00:00Z", "alice", "p1", 1)
    store.write(pointer_key("dev"), json.dumps(crashed.to_dict()).encode())
    assert [p.plan_id for p in pointers.history("dev")] == ["p1", "p2"]
    pointers.move("dev", "p2", Pointer("dev", "p3", "c3", moved_by="alice"), lease)
    assert [(p.plan_id, p.position) for p in pointers.history("dev")] == [("p1", 0), ("p2", 1), ("p3", 2)]
    assert len(store.read(history_key("dev")).splitlines()) == 3


def test_an_unreadable_pointer_is_a_state_error(store):
    store.write(pointer_key("dev"), b"{")
    with pytest.raises(StateError, match="unreadable") as error:
        Pointers(store).current("dev")
    assert error.value.file == "envs/dev/pointer.json"
