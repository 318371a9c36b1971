"""Actions: one check or packaging step of one target, described by its rule, run by the engine.

A rule describes; the engine performs. An action names a *handler* (``"module:function"``) that the
engine calls inside a persistent worker process of the action's *pool*, so that heavy toolchains
(an orchestrator's library, a JVM, a SQL compiler) are loaded once per worker and reused for many actions::

    Action(
        label=target.label,
        name="load",
        handler="myrules.checks:check_pipelines",
        request={"files": ["pipelines/daily.py"]},
        pool="orchestrator",
        timeout_s=120,
        toolchain=("python", "dist:some-orchestrator"),
    )

A handler has the signature ``handler(requests: list[dict], ctx: HandlerContext) -> list[dict]``:
it gets one request, or several when actions share a ``batch`` key (one compiler invocation for all
the selected models), and returns one ``Outcome``-shaped dict per request, in order::

    {"status": "passed" | "failed" | "skipped", "summary": "one line", "log": "full text",
     "artifacts": {"name": "workspace-relative or absolute path"}}

Handlers run with the workspace root as the working directory. They must be deterministic in
their inputs: the cache key is the target's data fingerprint, the action's name, the toolchain
versions and the declared environment variables — never the request itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from graphbuild.labels import Label
from graphbuild.values import FrozenDict, freeze

__all__ = ["Action", "HandlerContext", "Outcome", "Status", "ActionProvider"]

Status = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class Action:
    """One step of one target; frozen and hashable like everything in the graph."""

    label: Label
    name: str
    handler: str
    request: FrozenDict = field(default_factory=FrozenDict)
    pool: str = "default"
    timeout_s: float = 600.0
    toolchain: tuple[str, ...] = ()  # "python", "dist:<distribution>", "cmd:<command printing a version>"
    env: tuple[str, ...] = ()  # environment variables whose values enter the cache key
    batch: str | None = None  # actions with the same batch key may go to the handler together
    is_external: bool = False  # touches a live system: never served from the cache

    @classmethod
    def of(cls, label: Label, name: str, handler: str, request: Mapping[str, Any] | None = None, **kwargs: Any) -> Action:
        return cls(label, name, handler, freeze(dict(request or {})), **kwargs)

    @property
    def id(self) -> str:
        return f"{self.label}#{self.name}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What running (or replaying) an action gave."""

    status: Status
    summary: str = ""
    log: str = ""
    artifacts: FrozenDict = field(default_factory=FrozenDict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outcome:
        status = data.get("status")
        if status not in ("passed", "failed", "skipped"):
            return cls("failed", f"handler returned an invalid status {status!r}", str(data))
        return cls(status, str(data.get("summary", "")), str(data.get("log", "")), freeze(dict(data.get("artifacts") or {})))


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """What a handler gets besides its requests: the workspace root and a scratch folder of its own."""

    root: Path
    scratch: Path


@runtime_checkable
class ActionProvider(Protocol):
    """A rule (or a cross-cutting check) that describes actions for targets."""

    def actions(self, target: Any, ctx: Any) -> Any:
        """The actions of one target (``Iterable[Action]``); a rule answers for its own targets."""
        ...
