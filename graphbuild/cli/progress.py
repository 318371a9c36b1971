"""Progress of a test run: a live line on a terminal, plain lines otherwise; failures (every action with -v) show their log."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from graphbuild.cli.console import Console
from graphbuild.run.action import Action
from graphbuild.run.scheduler import ActionResult

__all__ = ["ProgressReporter"]

_MARK = {"passed": "PASSED", "failed": "FAILED", "skipped": "SKIPPED"}


class ProgressReporter:
    def __init__(self, console: Console, *, is_live: bool, is_verbose: bool = False) -> None:
        self.console = console
        self.is_verbose = is_verbose
        self.total = 0
        self.is_live = is_live and console.format == "text"
        self.done = 0
        self.running: dict[str, float] = {}
        self._lock = threading.Lock()

    def planned(self, actions: Sequence[Action]) -> None:
        self.total = len(actions)

    def started(self, actions: Sequence[Action]) -> None:
        with self._lock:
            for action in actions:
                self.running[action.id] = time.monotonic()
            self._live()

    def finished(self, result: ActionResult) -> None:
        with self._lock:
            self.running.pop(result.action.id, None)
            self.done += 1
            if self.console.format != "text":
                return
            self._clear()
            status = "CACHED" if result.is_cached else _MARK[result.outcome.status]
            line = f"{status:7} {result.action.id} ({result.duration_s:.1f} s)"
            if result.outcome.status != "passed" and result.outcome.summary:
                line += f": {result.outcome.summary}"
            self.console.err.write(line + "\n")
            if (result.outcome.status == "failed" or self.is_verbose) and result.outcome.log:
                lines = result.outcome.log.rstrip().splitlines()
                indented = "\n".join("    " + l for l in (lines if self.is_verbose else lines[-60:]))
                self.console.err.write(indented + "\n")
            self._live()

    def _clear(self) -> None:
        if self.is_live:
            self.console.err.write("\r\033[K")

    def _live(self) -> None:
        if not self.is_live or not self.running:
            return
        oldest = min(self.running, key=self.running.get)  # type: ignore[arg-type]
        elapsed = time.monotonic() - self.running[oldest]
        more = f" and {len(self.running) - 1} more" if len(self.running) > 1 else ""
        self.console.err.write(f"\r\033[K[{self.done}/{self.total}] {oldest} {elapsed:.0f} s{more}")
        self.console.err.flush()
