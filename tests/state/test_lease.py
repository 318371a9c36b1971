"""Leases: one holder per environment, takeover after expiry with a greater token, and the fence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graphbuild.errors import FencingError, StateError
from graphbuild.state import Leases, LocalStore, lease_key, read_lease
from tests.state.conftest import race


def test_a_held_lease_names_its_holder_and_expiry(store, clock):
    leases = Leases(store, clock)
    lease = leases.acquire("prod", "alice@laptop", ttl_s=600)
    assert (lease.env, lease.holder, lease.token, lease.expires_at) == ("prod", "alice@laptop", 1, clock.now + 600)
    with pytest.raises(StateError) as error:
        leases.acquire("prod", "bob@ci", ttl_s=600)
    assert "alice@laptop" in str(error.value) and "2026-01-01T00:10:00Z" in str(error.value)
    assert "--force-unlock" in error.value.fix
    assert leases.acquire("dev", "bob@ci", ttl_s=600).token == 1  # environments are independent


def test_an_expired_lease_is_taken_over_and_fenced(store, clock):
    leases = Leases(store, clock)
    old = leases.acquire("prod", "alice", ttl_s=60)
    clock.advance(59)
    leases.check(old)
    clock.advance(1)
    with pytest.raises(FencingError, match="expired"):
        leases.check(old)
    new = leases.acquire("prod", "bob", ttl_s=60)
    assert new.token > old.token
    with pytest.raises(FencingError, match="taken over by bob"):
        leases.check(old)
    with pytest.raises(FencingError):
        leases.renew(old)
    with pytest.raises(FencingError):
        with leases.fenced(old):
            pytest.fail("a fenced write ran under a lost lease")
    assert leases.release(old) is False  # the old holder cannot free bob's lease
    leases.check(new)


def test_tokens_strictly_increase_across_releases(store, clock):
    leases = Leases(store, clock)
    tokens = []
    for _ in range(5):
        lease = leases.acquire("dev", "alice", ttl_s=60)
        tokens.append(lease.token)
        assert leases.release(lease) is True
        assert leases.release(lease) is False
        assert leases.current("dev") is None
        with pytest.raises(FencingError, match="released"):
            leases.check(lease)
    assert tokens == [1, 2, 3, 4, 5]
    assert read_lease(store, "dev").token == 5


def test_renew_extends_the_lease(store, clock):
    leases = Leases(store, clock)
    lease = leases.acquire("dev", "alice", ttl_s=60)
    clock.advance(50)
    renewed = leases.renew(lease)
    assert (renewed.token, renewed.expires_at) == (lease.token, clock.now + 60)
    clock.advance(50)
    leases.check(renewed)
    with pytest.raises(StateError):
        leases.acquire("dev", "bob", ttl_s=60)


def test_force_unlock_breaks_a_live_lease(store, clock):
    leases = Leases(store, clock)
    stuck = leases.acquire("prod", "alice", ttl_s=3600)
    assert leases.force_unlock("prod") == stuck
    assert leases.force_unlock("prod") is None
    taken = leases.acquire("prod", "bob", ttl_s=60)
    assert taken.token == stuck.token + 1
    with pytest.raises(FencingError):
        leases.check(stuck)


def test_bad_input_and_a_corrupt_record(store, clock):
    leases = Leases(store, clock)
    with pytest.raises(StateError, match="positive"):
        leases.acquire("dev", "alice", ttl_s=0)
    with pytest.raises(StateError, match="invalid state key"):
        leases.acquire("../prod", "alice", ttl_s=60)
    store.write(lease_key("dev"), b"{not json")
    with pytest.raises(StateError, match="unreadable") as error:
        leases.acquire("dev", "alice", ttl_s=60)
    assert error.value.file == "envs/dev/lease.json" and error.value.fix


def _acquire(index: int, root: str) -> int:
    lease = Leases(LocalStore(Path(root))).acquire("prod", f"deploy-{index}", ttl_s=60)
    return lease.token


def test_concurrent_acquire_has_exactly_one_winner(tmp_path):
    results = race(_acquire, 6, str(tmp_path))
    winners = [value for status, value in results if status == "ok"]
    assert winners == [1]
    assert all("is being deployed by deploy-" in value for status, value in results if status == "error")
    stored = json.loads(LocalStore(tmp_path).read("envs/prod/lease.json"))
    assert stored["token"] == 1 and not stored["released"]
