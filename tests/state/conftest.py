"""Helpers for the state tests: every store (local folder, S3 on moto's server), real processes racing
on one store, raw edits behind a store's back, and a clock tests move by hand."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from graphbuild.state import LocalStore, StateStore
from graphbuild.state.s3 import S3Store, split_s3_url

STORES = ("local", "s3")


@dataclass(frozen=True)
class StoreSpec:
    """Where one test store lives; picklable, so a child process opens the same store."""

    kind: str
    where: str  # a folder, or s3://bucket/prefix
    endpoint: str | None = None

    def open(self, **options: Any) -> StateStore:
        if self.kind == "local":
            return LocalStore(Path(self.where))
        bucket, prefix = split_s3_url(self.where)
        return S3Store(bucket, prefix, endpoint_url=self.endpoint, region="us-east-1", **options)

    def fresh(self) -> StoreSpec:
        """Another, empty store of the same kind."""
        return StoreSpec(self.kind, f"{self.where}-{uuid.uuid4().hex[:8]}", self.endpoint)


def new_bucket(endpoint: str) -> str:
    import boto3

    bucket = f"state-{uuid.uuid4().hex[:16]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture(params=STORES)
def store_spec(request, tmp_path) -> StoreSpec:
    """Each store kind in turn: a folder, and a fresh bucket on moto's S3 server over HTTP."""
    if request.param == "local":
        return StoreSpec("local", str(tmp_path / "state"))
    endpoint = request.getfixturevalue("s3_endpoint")
    request.getfixturevalue("aws_credentials")
    return StoreSpec("s3", f"s3://{new_bucket(endpoint)}/state", endpoint)


def raw_put(store: StateStore, relative: str, data: bytes) -> None:
    """Write bytes under the store's root behind its back (a crash's leftovers, an attacker's edit)."""
    if isinstance(store, LocalStore):
        file = store.root / relative
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(data)
    else:
        store._client.put_object(Bucket=store.bucket, Key=store._object(relative), Body=data)


def raw_delete(store: StateStore, relative: str) -> None:
    """Delete what the store keeps under ``relative`` behind its back."""
    if isinstance(store, LocalStore):
        (store.root / relative).unlink(missing_ok=True)
    else:
        store._client.delete_object(Bucket=store.bucket, Key=store._object(relative))


class FakeClock:
    """A clock that only moves when a test says so."""

    def __init__(self, now: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(store_spec) -> StateStore:
    return store_spec.open()


def _child(target: Callable[..., Any], barrier: Any, queue: Any, index: int, args: tuple[Any, ...]) -> None:
    barrier.wait()  # all start together, so they really race
    try:
        queue.put((index, "ok", target(index, *args)))
    except BaseException as error:  # reported to the parent, which asserts on it
        queue.put((index, "error", f"{type(error).__name__}: {error}"))


def race(target: Callable[..., Any], processes: int, *args: Any) -> list[tuple[str, Any]]:
    """Run ``target(index, *args)`` in ``processes`` real processes at once; (status, value) by index."""
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(processes), ctx.Queue()
    children = [ctx.Process(target=_child, args=(target, barrier, queue, i, args)) for i in range(processes)]
    for child in children:
        child.start()
    results = dict((i, (status, value)) for i, status, value in (queue.get(timeout=60) for _ in children))
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    return [results[i] for i in range(processes)]
