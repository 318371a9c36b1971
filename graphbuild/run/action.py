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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from graphbuild.labels import Label
from graphbuild.values import FrozenDict, freeze

__all__ = ["Action", "HandlerContext", "Outcome", "Status", "StoredOutcome", "ActionProvider"]

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


class StoredOutcome(Outcome):
    """An outcome replayed from a cache whose log stays stored until something reads ``log``.

    A replay needs the status and the summary; logs can be large (a batch's whole output) and most
    are never read. ``read_log`` is called on first access (the cache verifies the text then) and
    its text kept. Equal to, hashed like and pickled as the plain ``Outcome`` with that log.
    """

    __slots__ = ("_read_log", "_text")

    def __init__(self, status: Status, summary: str, artifacts: FrozenDict, read_log: Callable[[], str]) -> None:
        for name, value in (("status", status), ("summary", summary), ("artifacts", artifacts), ("_read_log", read_log), ("_text", None)):
            object.__setattr__(self, name, value)  # frozen; the base's ``log`` slot is shadowed by the property below

    @property
    def log(self) -> str:  # type: ignore[override]
        if self._text is None:
            object.__setattr__(self, "_text", self._read_log())
        return self._text

    def _plain(self) -> Outcome:
        return Outcome(self.status, self.summary, self.log, self.artifacts)

    def __eq__(self, other: object) -> bool:
        return self._plain() == other._plain() if isinstance(other, StoredOutcome) else self._plain() == other

    def __hash__(self) -> int:
        return hash(self._plain())

    def __repr__(self) -> str:
        return repr(self._plain())

    def __reduce__(self) -> tuple[object, ...]:
        return (Outcome, (self.status, self.summary, self.log, self.artifacts))


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """What a handler gets besides its requests: the workspace root, a scratch folder of its own, and a folder
    that outlives the run (``cache_dir``, in the local cache) for the handler's own content-keyed memos, such
    as parsed files. Results never go there: the action cache keeps those."""

    root: Path
    scratch: Path
    cache_dir: Path | None = None


@runtime_checkable
class ActionProvider(Protocol):
    """A rule (or a cross-cutting check) that describes actions for targets."""

    def actions(self, target: Any, ctx: Any) -> Any:
        """The actions of one target (``Iterable[Action]``); a rule answers for its own targets."""
        ...
