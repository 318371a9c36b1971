"""Pools of persistent worker processes, one pool per kind of toolchain (``Action.pool``)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["WorkerPools", "WorkerTimeout"]


class WorkerTimeout(Exception):
    """A call did not answer within its timeout; its worker was killed."""


class _Worker:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "graphbuild.run.worker"],
            cwd=root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a timeout kills the worker and everything it started
        )

    def call(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        self.process.stdin.flush()
        deadline = time.monotonic() + timeout_s
        stdout = self.process.stdout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise WorkerTimeout(f"no answer within {timeout_s:g} s")
            ready, _, _ = select.select([stdout], [], [], remaining)
            if ready:
                line = stdout.readline()
                if not line:
                    code = self.process.wait()
                    raise RuntimeError(f"worker exited with code {code} during the call")
                return json.loads(line)

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def close(self) -> None:
        self.ask_to_exit()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def ask_to_exit(self) -> None:
        """End of input: the worker exits when it has read everything (``close`` waits for that)."""
        if self.process.poll() is None and self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()


class WorkerPools:
    """Idle workers per pool; a call borrows one (starting it if needed) and returns it."""

    def __init__(self, root: Path, env: dict[str, str] | None = None, cache_dir: Path | None = None) -> None:
        self.root = root
        self.cache_dir = cache_dir  # handlers' persistent memos (HandlerContext.cache_dir)
        self.env = dict(os.environ if env is None else env)
        self._idle: dict[str, list[_Worker]] = defaultdict(list)
        self._lock = threading.Lock()
        self.started: dict[str, int] = defaultdict(int)

    def call(self, pool: str, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        with self._lock:
            worker = self._idle[pool].pop() if self._idle[pool] else None
            if worker is None:
                self.started[pool] += 1
        if worker is None:
            worker = _Worker(self.root, self.env)
        try:
            answer = worker.call(message, timeout_s)
        except BaseException:
            worker.kill()
            raise
        with self._lock:
            self._idle[pool].append(worker)
        return answer

    def close(self) -> None:
        with self._lock:
            workers = [w for pool in self._idle.values() for w in pool]
            self._idle.clear()
        for worker in workers:  # all at once: they shut down in parallel, then each is waited for
            worker.ask_to_exit()
        for worker in workers:
            worker.close()
