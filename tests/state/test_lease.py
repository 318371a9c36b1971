"""Leases: one holder per environment, takeover after expiry with a greater token, and the fence."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphbuild.errors import FencingError, StateError
from graphbuild.state import Fence, Heartbeat, Leases, LocalStore, StateStore, lease_key, read_fence, read_lease
from tests.state.conftest import StoreSpec, race, raw_delete


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


def _acquire(index: int, spec: StoreSpec) -> int:
    lease = Leases(spec.open()).acquire("prod", f"deploy-{index}", ttl_s=60)
    return lease.token


def test_concurrent_acquire_has_exactly_one_winner(store_spec):
    results = race(_acquire, 6, store_spec)
    winners = [value for status, value in results if status == "ok"]
    assert winners == [1]
    assert all("is being deployed by deploy-" in value for status, value in results if status == "error")
    stored = json.loads(store_spec.open().read("envs/prod/lease.json"))
    assert stored["token"] == 1 and not stored["released"]


def test_the_fence_record_keeps_tokens_monotonic_when_the_lease_record_is_lost(store, clock):
    """Drill: deleting the lease record (its 'fix' for a corrupt file) must not let an old token pass again."""
    leases = Leases(store, clock)
    old = leases.acquire("prod", "alice", ttl_s=60)
    clock.advance(61)
    leases.acquire("prod", "bob", ttl_s=60)
    assert read_fence(store, "prod") == Fence(2, "bob", (1,))
    raw_delete(store, lease_key("prod"))
    again = leases.acquire("prod", "carol", ttl_s=60)
    assert again.token == 3
    raw_delete(store, lease_key("prod"))
    store.write(lease_key("prod"), json.dumps({**old.to_dict(), "expires_at": clock.now + 60, "released": False}).encode())
    with pytest.raises(FencingError, match="fence of environment 'prod' is at token 3"):
        leases.check(old)  # a forged or restored record naming token 1 is still fenced


def test_force_unlock_fences_out_the_broken_holder(store, clock):
    leases = Leases(store, clock)
    stuck = leases.acquire("prod", "alice", ttl_s=3600)
    leases.force_unlock("prod")
    assert read_fence(store, "prod").fenced_out == (stuck.token,)
    leases.acquire("prod", "bob", ttl_s=60)
    assert read_fence(store, "prod").fenced_out == (stuck.token,)  # a released lease is not a takeover


def test_a_heartbeat_keeps_a_lease_past_its_time_to_live(store):
    leases = Leases(store)
    ttl = 0.3 if isinstance(store, LocalStore) else 2.0  # a renewal over HTTP takes a few requests
    lease = leases.acquire("dev", "alice", ttl_s=ttl)
    with Heartbeat(leases, lease) as beat:
        time.sleep(ttl * 3.3)  # more than three lifetimes
        leases.check(lease)
        with pytest.raises(StateError, match="being deployed by alice"):
            leases.acquire("dev", "bob", ttl_s=60)
    assert beat.lost is None and beat.lease.expires_at > lease.expires_at
    time.sleep(ttl * 1.3)  # no beat any more: it expires
    with pytest.raises(FencingError, match="expired"):
        leases.check(lease)


def test_a_heartbeat_stops_when_its_lease_is_lost(store):
    leases = Leases(store)
    lease = leases.acquire("dev", "alice", ttl_s=0.3)
    with Heartbeat(leases, lease) as beat:
        leases.force_unlock("dev")
        time.sleep(0.3)
    assert isinstance(beat.lost, FencingError)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.sampled_from(["acquire", "expire", "release", "force", "lose-record"]), max_size=25))
def test_tokens_only_grow_and_only_the_newest_lease_passes_the_fence(store_spec, ops):
    """Whatever happens to the leases (even losing the lease record), every new token is greater than
    all before it, and no lease but the newest passes ``check``; on every store."""
    store = store_spec.fresh().open()
    now = [1000.0]
    leases = Leases(store, clock=lambda: now[0])
    issued: list = []
    for op in ops:
        if op == "acquire":
            try:
                issued.append(leases.acquire("prod", f"deploy-{len(issued)}", ttl_s=60))
            except StateError:
                continue  # held and live
            assert [lease.token for lease in issued] == sorted({lease.token for lease in issued})
        elif op == "expire":
            now[0] += 61
        elif op == "release" and issued:
            leases.release(issued[-1])
        elif op == "force":
            leases.force_unlock("prod")
        elif op == "lose-record":
            raw_delete(store, lease_key("prod"))
        for old in issued[:-1]:
            with pytest.raises(FencingError):
                leases.check(old)


class _Crash(BaseException):
    """The process dies here."""


class _CrashingStore:
    """A real store, but the process dies at its ``at``-th write or compare-and-swap."""

    def __init__(self, inner: StateStore, at: int) -> None:
        self.inner = inner
        self.left = at

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def _step(self) -> None:
        self.left -= 1
        if self.left == 0:
            raise _Crash()

    def write(self, path: str, data: bytes) -> None:
        self._step()
        self.inner.write(path, data)

    def compare_and_swap(self, path: str, expected: bytes | None, new: bytes) -> bool:
        self._step()
        return self.inner.compare_and_swap(path, expected, new)


@pytest.mark.parametrize("crash_at", [1, 2])
def test_a_takeover_that_crashes_midway_never_loses_the_fenced_out_token(store, clock, crash_at):
    """Drill: kill a takeover between its two writes (fence record, lease record): it may over-fence,
    never under-fence: once the lease record names a newer token, the fence lists the old one."""
    leases = Leases(store, clock)
    old = leases.acquire("prod", "alice", ttl_s=60)
    clock.advance(61)
    with pytest.raises(_Crash):
        Leases(_CrashingStore(store, crash_at), clock).acquire("prod", "bob", ttl_s=60)
    if read_lease(store, "prod").token != old.token:  # the takeover landed
        assert old.token in read_fence(store, "prod").fenced_out
    with pytest.raises(FencingError):
        leases.check(old)
    clock.advance(61)  # whatever the crashed takeover left expires
    again = leases.acquire("prod", "carol", ttl_s=60)
    assert again.token > old.token and old.token in read_fence(store, "prod").fenced_out
    assert len(set(read_fence(store, "prod").fenced_out)) == len(read_fence(store, "prod").fenced_out)


def test_force_unlock_keeps_the_fence_naming_the_holder_of_its_token(store, clock):
    """A lease record restored from an old backup, then broken: the fence still names who got its token."""
    leases = Leases(store, clock)
    alice = leases.acquire("prod", "alice", ttl_s=60)
    clock.advance(61)
    leases.acquire("prod", "bob", ttl_s=60)
    store.write(lease_key("prod"), json.dumps({**alice.to_dict(), "expires_at": clock.now + 60, "released": False}).encode())
    assert leases.force_unlock("prod").holder == "alice"
    assert read_fence(store, "prod") == Fence(2, "bob", (alice.token,))
    with pytest.raises(FencingError, match="taken over by|released"):
        leases.check(alice)


def test_a_corrupt_fence_record_names_its_file_and_the_fix(store, clock):
    leases = Leases(store, clock)
    store.write("envs/dev/fence.json", b'["not", "an", "object"]')
    with pytest.raises(StateError, match="fence record is unreadable") as error:
        leases.acquire("dev", "alice", ttl_s=60)
    assert error.value.file == "envs/dev/fence.json" and "greatest lease token" in error.value.fix
