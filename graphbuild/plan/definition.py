"""Plans: frozen, content-addressed values saying exactly what moves an environment to a commit.

A rule describes the deploy steps of one of its targets as ``StepSpec`` values; the engine's builder
turns them into ``Step`` values (files stored by sha256, an idempotency key) ordered by phase and, inside
a phase, by dependency; a ``Plan`` is the whole ordered list plus what it was made from. Its id is the
sha256 of its canonical content, so the same inputs give the same plan id on any machine::

    StepSpec(
        name="publish",
        phase=Phase.ARTIFACTS,
        handler="myrules.deploy:publish",
        request={"entry": "main.py"},
        files=("jobs/daily/main.py",),
        reversibility=Reversibility.POINTER,
        estimate_s=5.0,
    )

A deploy handler has the signature ``handler(step: Step, ctx: DeployContext) -> str`` (a one-line summary)
and must be idempotent: applying a step twice leaves the environment as applying it once. It raises
``DeployError`` (or any exception) to fail the step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any, Literal, NewType, Protocol, runtime_checkable

from graphbuild.values import FrozenDict, canonical_json, freeze, thaw

__all__ = [
    "DeployContext",
    "DeployPlanContext",
    "DeployProvider",
    "Operation",
    "Phase",
    "Plan",
    "PlanId",
    "Reversibility",
    "Step",
    "StepSpec",
]

PlanId = NewType("PlanId", str)
Operation = Literal["apply", "retire"]


class Phase(IntEnum):
    """The safe order of a deploy: what others run on comes first."""

    INFRASTRUCTURE = 1  # buckets, roles, clusters
    SCHEMAS = 2  # contracts between producers and consumers
    ARTIFACTS = 3  # packaged jobs (long-running consumers stopped and started around them)
    TRANSFORMATIONS = 4  # warehouse models
    ORCHESTRATION = 5  # schedules that run all of the above


class Reversibility(StrEnum):
    """How a rollback can undo a step."""

    POINTER = "pointer-revertible"  # the earlier version is kept; rollback re-points at it
    FORWARD_ONLY = "forward-only"  # stays applied after a rollback (e.g. a registered schema version)
    IRREVERSIBLE = "irreversible"  # cannot be undone by graphbuild (e.g. dropping data)


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One deploy step of one target, as its rule describes it."""

    name: str
    phase: Phase
    handler: str  # "module:function", called in the deploying process
    request: FrozenDict = field(default_factory=FrozenDict)  # JSON-ready; secret *names* only, never values
    files: tuple[str, ...] = ()  # workspace-relative files the handler needs; stored by content in the plan
    reversibility: Reversibility = Reversibility.POINTER
    estimate_s: float = 1.0
    notes: tuple[str, ...] = ()  # for people: "breaking: column dropped: fee", "backfill 2026-01-01..2026-11-26"

    @classmethod
    def of(cls, name: str, phase: Phase, handler: str, request: Mapping[str, Any] | None = None, **kwargs: Any) -> StepSpec:
        return cls(name, phase, handler, freeze(dict(request or {})), **kwargs)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a plan: a rule's ``StepSpec`` bound to a target version and an environment."""

    key: str  # idempotency key: the same step of the same target version in the same environment
    label: str
    name: str
    phase: Phase
    handler: str
    request: FrozenDict
    files: FrozenDict  # workspace-relative path -> sha256 of its content in the state store
    reversibility: Reversibility
    estimate_s: float
    fingerprint: str  # the target's data fingerprint this step deploys
    operation: Operation = "apply"  # "retire": the target left the workspace; undo what "apply" made
    notes: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.label}#{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "name": self.name,
            "phase": self.phase.name.lower(),
            "handler": self.handler,
            "request": thaw(self.request),
            "files": thaw(self.files),
            "reversibility": self.reversibility.value,
            "estimate_s": self.estimate_s,
            "fingerprint": self.fingerprint,
            "operation": self.operation,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        return cls(
            key=data["key"],
            label=data["label"],
            name=data["name"],
            phase=Phase[data["phase"].upper()],
            handler=data["handler"],
            request=freeze(data["request"]),
            files=freeze(data["files"]),
            reversibility=Reversibility(data["reversibility"]),
            estimate_s=float(data["estimate_s"]),
            fingerprint=data["fingerprint"],
            operation=data["operation"],
            notes=tuple(data["notes"]),
        )


PlanKind = Literal["deploy", "rollback"]


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a deploy will do to one environment, in order; its id is the hash of its content."""

    env: str
    commit: str
    author: str
    previous: PlanId | None  # the environment's plan when this one was made; deploy refuses if it moved
    fingerprints: FrozenDict  # label -> data fingerprint of every deployable target after this plan
    steps: tuple[Step, ...]
    metadata: FrozenDict = field(default_factory=FrozenDict)  # label -> metadata fingerprint (docs, tags)
    order: tuple[str, ...] = ()  # every deployable target, dependencies first (a rollback keeps this order)
    kind: PlanKind = "deploy"
    restores: PlanId | None = None  # a rollback plan: the plan whose state it restores
    notes: tuple[str, ...] = ()  # a rollback plan: the steps it leaves applied (they need confirmation)
    policy: str | None = None  # sha256 of the approval policy (graphbuild.envs.Policy) at ``commit``

    @property
    def id(self) -> PlanId:
        from hashlib import sha256

        return PlanId(sha256(canonical_json(self.content()).encode()).hexdigest())

    def content(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "commit": self.commit,
            "author": self.author,
            "previous": self.previous,
            "kind": self.kind,
            "restores": self.restores,
            "notes": list(self.notes),
            "policy": self.policy,
            "fingerprints": thaw(self.fingerprints),
            "metadata": thaw(self.metadata),
            "order": list(self.order),
            "steps": [s.to_dict() for s in self.steps],
        }

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, **self.content()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        return cls(
            env=data["env"],
            commit=data["commit"],
            author=data["author"],
            previous=data["previous"],
            fingerprints=freeze(data["fingerprints"]),
            steps=tuple(Step.from_dict(s) for s in data["steps"]),
            metadata=freeze(data.get("metadata", {})),
            order=tuple(data.get("order", ())),
            kind=data.get("kind", "deploy"),
            restores=data.get("restores"),
            notes=tuple(data.get("notes", ())),
            policy=data.get("policy"),
        )

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)


@dataclass(frozen=True)
class DeployPlanContext:
    """What a rule sees when it describes deploy steps for one environment.

    ``head`` is the fingerprinted workspace being planned; ``base`` the one the environment runs now
    (None for a first deploy). Both are ``graphbuild.fingerprint.Fingerprinted``: a rule reads a target's
    digest aspects in each (``head.states[label].digest.data``) to classify its change.

    ``memo`` is one dict per plan, shared by every rule's plan steps of that plan and dropped with it:
    a rule may keep its own per-plan caches there, under a key of its own (its module's name).
    ``settings`` is the backend's own section of the environment (``Environment.backend_settings``):
    names and locations a step may carry into the plan, never secrets. The backend validates it at plan
    time (``rules.deploy.local.require_settings``); ``source`` and ``secrets`` serve that check.
    """

    env: str
    backend: str  # the backend the environment names for this rule ("local", "aws", ...)
    variables: FrozenDict
    head: Any
    base: Any | None
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    settings: FrozenDict = field(default_factory=FrozenDict)  # the backend's section of the environment (names, never secrets)
    source: str = field(default="", compare=False, repr=False)  # the environment file's text: a settings error names its line
    secrets: frozenset[str] | None = None  # the names of the environment's [secrets], never values (None: not known here)


@runtime_checkable
class DeployProvider(Protocol):
    """A rule that describes deploy steps for its targets."""

    def deploy_steps(self, target: Any, ctx: DeployPlanContext) -> Iterable[StepSpec]:
        """The steps that move ``ctx.env`` to this version of ``target``, in the order they must run."""
        ...


@dataclass(frozen=True)
class DeployContext:
    """What a deploy handler gets besides its step.

    ``backend_dir`` is the environment's folder for the embedded local backends (a warehouse file,
    a DAGs folder, an artifact store, a schema registry); ``materialize`` writes a step's files from
    the state store into a folder (byte-identical to what was planned); ``secret`` resolves a secret
    reference only now, at run time; ``fingerprints`` are every deployable target's fingerprints in
    the plan being applied (a warehouse model finds its upstream versions there).

    ``fenced(step)`` wraps a step's visible switch (a view swap, a folder swap, a registry write): it
    raises ``FencingError`` without running the block if the deploy's lease (``fence_token``) was taken
    over, and no takeover can happen while the block runs::

        with ctx.fenced(step):
            atomic_write(folder / "current", step.fingerprint)
    """

    env: str
    root: Path
    backend_dir: Path
    variables: FrozenDict
    fingerprints: FrozenDict
    read_blob: Callable[[str], bytes]
    secret: Callable[[str], str]
    fence_token: int = 0  # the fencing token of the deploy's lease (0: not under a lease, as in a unit test)
    fenced: Callable[[Any], AbstractContextManager[None]] = field(default=lambda step: nullcontext())

    def materialize(self, files: Mapping[str, str], dest: Path) -> None:
        from graphbuild.fsutil import atomic_write

        for path, digest in sorted(files.items()):
            atomic_write(dest / path, self.read_blob(digest))
