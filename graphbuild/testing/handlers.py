"""Handlers for FakeRule's actions: their behaviour is written in the target's own files.

A source line ``FAIL reason`` fails the check, ``SLEEP s`` sleeps, ``CRASH`` raises, ``PRINT text``
prints, ``ARTIFACT text`` produces an artifact file holding the text. Each outcome's log records the process id, the time it started and finished and the size of
the batch, so tests can see reuse of workers, ordering and batching.

``fake_deploy`` is FakeRule's deploy step: it keeps every version it was given under
``<backend_dir>/<target>/versions/<fingerprint>`` and points ``current`` at the one applied (a
rollback re-points, nothing is rebuilt); ``DEPLOY_FAIL reason`` fails it, ``DEPLOY_SLEEP s`` makes
it slow (to kill a deploy in the middle) and ``DEPLOY_WAIT name`` stops it at ``gate(backend_dir, name)``
until the test opens the gate (to stall a deploy while another takes over). Its switch of ``current`` is fenced. Every call appends one line to ``<backend_dir>/calls.log``.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from graphbuild.fsutil import atomic_write
from graphbuild.run.action import HandlerContext

__all__ = ["Flag", "Gate", "fake_check", "fake_deploy", "fenced_out", "gate"]


class Flag:
    """A ``threading.Event`` kept as a marker file: set once the file exists, in any process."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()

    def is_set(self) -> bool:
        return self.path.exists()

    def wait(self, timeout: float) -> bool:
        """Whether the flag was set within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.is_set():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True


class Gate:
    """Where ``DEPLOY_WAIT name`` stops a fake deploy step: ``reached`` is set on arrival, ``opened`` lets it go.

    Its flags are hidden files in the environment's backend folder, so a gate belongs to one test's
    workspace (no state shared across tests) and works across processes.
    """

    def __init__(self, backend_dir: Path, name: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
            raise ValueError(f"a gate name is letters, digits, '_', '.' and '-', not {name!r}")
        self.reached = Flag(backend_dir / f".gate-{name}.reached")
        self.opened = Flag(backend_dir / f".gate-{name}.opened")


def gate(backend_dir: Path | str, name: str) -> Gate:
    """The gate ``name`` of the environment whose backend folder is ``backend_dir``.

    >>> # stop = gate(env.backend_dir, "stall"); stop.reached.wait(30); ...; stop.opened.set()
    """
    return Gate(Path(backend_dir), name)


def fake_check(requests: list[dict[str, Any]], ctx: HandlerContext) -> list[dict[str, Any]]:
    outcomes = []
    for request in requests:
        start = time.time()
        failure = None
        artifacts: dict[str, str] = {}
        for path in request["sources"]:
            for line in (Path(ctx.root) / path).read_text().splitlines():
                word, _, rest = line.partition(" ")
                if word == "SLEEP":
                    time.sleep(float(rest))
                elif word == "FAIL":
                    failure = f"{path}: {rest}"
                elif word == "CRASH":
                    raise RuntimeError(f"crash requested by {path}")
                elif word == "PRINT":
                    print(rest)
                elif word == "ARTIFACT":
                    artifact = Path(ctx.scratch) / f"{len(artifacts)}.bin"
                    artifact.write_text(rest)
                    artifacts[f"artifact{len(artifacts)}"] = str(artifact)
        log = f"pid={os.getpid()} start={start:.6f} end={time.time():.6f} batch={len(requests)}"
        outcomes.append({"status": "failed" if failure else "passed", "summary": failure or "ok", "log": log, "artifacts": artifacts})
    return outcomes


def fenced_out(ctx: Any, state_dir: Path) -> Any:
    """``ctx`` (a ``DeployContext``) as a deploy whose lease another deploy took over sees it.

    Every ``ctx.fenced(step)`` then raises ``FencingError``: a rule author's test checks that the
    handler's visible switch is refused and the backend left as it was. ``state_dir`` holds the leases.
    """
    from dataclasses import replace

    from graphbuild.state import Leases, LocalStore
    from graphbuild.state.journal import fenced_switch

    store, now = LocalStore(state_dir), [1_767_225_600.0]
    leases = Leases(store, clock=lambda: now[0])
    stale = leases.acquire(ctx.env, "stalled@deploy", ttl_s=60)
    now[0] += 61  # it stalled past its lease ...
    leases.acquire(ctx.env, "other@deploy", ttl_s=60)  # ... and another deploy took over
    return replace(ctx, fence_token=stale.token, fenced=lambda step: fenced_switch(store, leases, stale, "stale-plan", step.key, step.id))


def fake_deploy(step: Any, ctx: Any) -> str:
    """Apply (or retire) one FakeRule target version in ``ctx.backend_dir``; idempotent and atomic."""
    folder = Path(ctx.backend_dir) / step.label.strip("/").replace(":", "/")
    Path(ctx.backend_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(ctx.backend_dir) / "calls.log", "a") as log:
        log.write(f"{step.operation} {step.id} {step.fingerprint[:12]}\n")
    if step.operation == "retire":
        with ctx.fenced(step):
            (folder / "current").unlink(missing_ok=True)
        return "retired"
    contents = {path: ctx.read_blob(digest) for path, digest in sorted(step.files.items())}
    for data in contents.values():
        for line in data.decode("utf-8", "replace").splitlines():
            word, _, rest = line.partition(" ")
            if word == "DEPLOY_SLEEP":
                time.sleep(float(rest))
            elif word == "DEPLOY_FAIL":
                raise RuntimeError(rest or "deploy failure requested")
            elif word == "DEPLOY_WAIT":
                stop = gate(ctx.backend_dir, rest)
                stop.reached.set()
                if not stop.opened.wait(60):
                    raise RuntimeError(f"gate {rest!r} was never opened")
    version = folder / "versions" / step.fingerprint
    built = not version.exists()
    if built:
        atomic_write(version, b"".join(contents.values()))
    with ctx.fenced(step):  # the visible switch: refused once another deploy took the lease over
        atomic_write(folder / "current", step.fingerprint)
    return f"{'built' if built else 'reused'} {step.fingerprint[:12]}"
