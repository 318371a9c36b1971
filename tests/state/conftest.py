"""Helpers for the state tests: real processes racing on one store, and a clock tests move by hand."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

import pytest

from graphbuild.state import LocalStore


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
def store(tmp_path) -> LocalStore:
    return LocalStore(tmp_path / "state")


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
