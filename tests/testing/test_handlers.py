"""The fake deploy step's gates: scoped to one environment's backend folder, no state shared in the process."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from graphbuild.testing import handlers
from graphbuild.testing.handlers import gate


def test_a_gate_belongs_to_one_backend_folder(tmp_path: Path) -> None:
    mine, theirs = gate(tmp_path / "a", "stall"), gate(tmp_path / "b", "stall")
    assert not mine.opened.is_set() and not mine.reached.wait(0)
    mine.opened.set()
    assert gate(tmp_path / "a", "stall").opened.wait(0)  # the same gate, looked up again
    assert not theirs.opened.wait(0.05)  # another test's gate of the same name stays shut
    assert not hasattr(handlers, "_GATES")


def test_a_gate_opened_from_another_thread_lets_the_waiter_go(tmp_path: Path) -> None:
    stop = gate(tmp_path, "wait")
    opener = threading.Timer(0.05, stop.opened.set)
    opener.start()
    assert stop.opened.wait(10)
    opener.join()


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "a b"])
def test_a_gate_name_cannot_leave_the_backend_folder(tmp_path: Path, name: str) -> None:
    """Drill: a ``DEPLOY_WAIT`` line naming a path does not create files outside the backend folder."""
    with pytest.raises(ValueError, match="gate name"):
        gate(tmp_path / "backend", name)
    assert not (tmp_path / "escape").exists()
