"""Drift: each backend compared with what the environment's pointer says it runs.

Every monitor (``graphbuild.plan.monitor``) with a ``drift`` function compares its backend (warehouse
views, DAG files, artifacts, registered schemas) with the steps that deployed the pointer's plan, by
digest; anything different (a hand-edited DAG file, a view swapped by hand, an artifact replaced) is
one ``Drift``::

    report = find_drift(store, env)
    report.has_drift, [d.to_dict() for d in report.drift]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphbuild.envs import Environment
from graphbuild.errors import GraphbuildError
from graphbuild.plan.archive import load_plan
from graphbuild.plan.health import monitor_context
from graphbuild.plan.monitor import Drift, deployed_steps, monitors, previous_plan
from graphbuild.state import Pointers, StateStore

__all__ = ["DriftReport", "find_drift"]


@dataclass(frozen=True, slots=True)
class DriftReport:
    env: str
    plan: str | None
    drift: tuple[Drift, ...]
    checked: int  # the deployed steps whose backends were compared

    @property
    def has_drift(self) -> bool:
        return bool(self.drift)

    def to_dict(self) -> dict[str, Any]:
        return {"env": self.env, "plan": self.plan, "drift": [d.to_dict() for d in self.drift], "checked": self.checked}


def find_drift(store: StateStore, env: Environment) -> DriftReport:
    """Compare every backend of ``env`` with the pointer's plan; sorted, so the output is deterministic."""
    pointer = Pointers(store).current(env.name)
    if pointer is None:
        return DriftReport(env.name, None, (), 0)
    plan = load_plan(store, pointer.plan_id)
    ctx = monitor_context(store, env, plan, previous_plan(store, env.name, pointer.plan_id))
    found: list[Drift] = []
    checked = 0
    for function, watched in monitors(deployed_steps(store, plan), "drift"):
        checked += len(watched)
        try:
            found.extend(function(watched, ctx))
        except GraphbuildError as exc:
            found.extend(Drift(label, "backend", "readable", exc.message) for label in sorted({s.label for s in watched}))
    ordered = tuple(sorted(set(found), key=lambda d: (d.target, d.what, d.expected, d.found)))
    return DriftReport(env.name, pointer.plan_id, ordered, checked)
