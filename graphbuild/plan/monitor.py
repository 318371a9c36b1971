"""Monitors: how a rule plugs its health checks and drift checks into the engine, kind-agnostic.

A deploy handler's module names its monitor module in ``MONITOR``; the engine groups the steps that
deployed what the environment's pointer names by that module and calls it once per group, so a check
that covers a whole folder (a DagBag) runs once::

    # myrules/deploy/warehouse.py (the deploy handlers)
    MONITOR = "myrules.deploy.warehouse_health"

    # myrules/deploy/warehouse_health.py
    def health(steps: Sequence[Step], ctx: MonitorContext) -> Iterable[Check]: ...
    def drift(steps: Sequence[Step], ctx: MonitorContext) -> Iterable[Drift]: ...

Either function may be missing (that monitor has no such checks). A new backend plugs in with a
``MONITOR`` of its own in its handler module; the engine never names a kind.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from graphbuild.errors import DeployError
from graphbuild.plan.archive import load_plan
from graphbuild.plan.definition import Plan, Step
from graphbuild.state import Pointers, StateReader
from graphbuild.values import FrozenDict, freeze

__all__ = ["Check", "CheckStatus", "Drift", "MonitorContext", "deployed_steps", "monitors", "previous_plan"]

CheckStatus = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class Check:
    """One health check of one deployed target: ``skipped`` says why it could not run, never passes."""

    target: str
    check: str  # "row_count", "dag_import", ...
    status: CheckStatus
    detail: str = ""
    metrics: FrozenDict = field(default_factory=FrozenDict)  # name -> number, published as metrics

    @classmethod
    def of(cls, target: str, check: str, status: CheckStatus, detail: str = "", **metrics: float) -> Check:
        return cls(target, check, status, detail, freeze({k: float(v) for k, v in sorted(metrics.items())}))

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "check": self.check, "status": self.status, "detail": self.detail,
                "metrics": dict(self.metrics)}


@dataclass(frozen=True, slots=True)
class Drift:
    """One difference between a backend and what the pointer's plan says it runs."""

    target: str
    what: str  # "view", "dag file", "artifact", ...
    expected: str
    found: str

    def to_dict(self) -> dict[str, str]:
        return {"target": self.target, "what": self.what, "expected": self.expected, "found": self.found}


@dataclass(frozen=True)
class MonitorContext:
    """What a monitor sees: the plan the environment runs, the one before it, and the ``[health]`` thresholds.

    ``previous_fingerprint(label)`` is the label's fingerprint in the previous version (None: it had none),
    the baseline a regression is measured against; ``secret(name)`` resolves one of the environment's
    ``[secrets]`` as a deploy step's context does; ``memo`` is shared by every monitor of one run.
    """

    env: str
    root: Path
    backend_dir: Path
    variables: FrozenDict
    plan: Plan
    previous: Plan | None
    thresholds: FrozenDict
    read_blob: Callable[[str], bytes]
    settings: Callable[[str], FrozenDict] = field(default=lambda backend: FrozenDict())
    secret: Callable[[str], str] = field(default=lambda name: "", compare=False, repr=False)  # resolves a [secrets] name now
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def previous_fingerprint(self, label: str) -> str | None:
        if self.previous is None:
            return None
        found = self.previous.fingerprints.get(label)
        return None if found is None else str(found)


def deployed_steps(state: StateReader, plan: Plan) -> tuple[Step, ...]:
    """The applied steps that put every target of ``plan`` at its fingerprint: for each target, its steps in
    the newest plan of the chain (``plan``, then each plan's previous or restored one) that deployed it."""
    wanted = {str(label): str(fp) for label, fp in plan.fingerprints.items()}
    found: dict[str, list[Step]] = {}
    current: Plan | None = plan
    seen: set[str] = set()
    while current is not None and current.id not in seen and len(found) < len(wanted):
        seen.add(current.id)
        here: dict[str, list[Step]] = {}
        for step in current.steps:
            if step.operation == "apply" and step.label not in found and wanted.get(step.label) == step.fingerprint:
                here.setdefault(step.label, []).append(step)
        found.update(here)
        following = current.restores if current.kind == "rollback" else current.previous
        current = load_plan(state, following) if following else None
    order = [*plan.order, *sorted(set(wanted) - set(plan.order))]
    return tuple(step for label in order for step in found.get(label, ()))


def previous_plan(state: StateReader, env: str, running: str) -> Plan | None:
    """The plan the environment ran before ``running`` (the baseline of a regression), or None."""
    history = [p.plan_id for p in Pointers(state).history(env)]
    earlier = [pid for pid in history[:-1] if pid != running]
    return load_plan(state, earlier[-1]) if earlier else None


def monitors(steps: Sequence[Step], role: Literal["health", "drift"]) -> list[tuple[Callable[..., Iterable[Any]], tuple[Step, ...]]]:
    """Each monitor's ``role`` function with the steps it watches, in the order their steps first come."""
    groups: dict[str, list[Step]] = {}
    for step in steps:
        name = _monitor_of(step.handler)
        if name is not None:
            groups.setdefault(name, []).append(step)
    found = []
    for name, grouped in groups.items():
        function = getattr(_import(name), role, None)
        if function is not None:
            found.append((function, tuple(grouped)))
    return found


def unmonitored(steps: Sequence[Step]) -> tuple[str, ...]:
    """The step ids whose handler module declares no monitor (reported as skipped, never as passed)."""
    return tuple(s.id for s in steps if _monitor_of(s.handler) is None)


def _monitor_of(handler: str) -> str | None:
    module = _import(handler.partition(":")[0])
    found = getattr(module, "MONITOR", None)
    return found if isinstance(found, str) else None


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise DeployError(f"module {name!r} cannot be loaded: {exc}", fix="check the rule's handler and its MONITOR") from None


def by_label(steps: Iterable[Step]) -> Mapping[str, list[Step]]:
    grouped: dict[str, list[Step]] = {}
    for step in steps:
        grouped.setdefault(step.label, []).append(step)
    return grouped
