"""Helpers for the local deploy handler tests: bind a rule's ``StepSpec`` to a ``Step`` and a ``DeployContext``.

The engine's plan builder does this for real deploys; these tests build the two values by hand (files
stored by sha256 in a dict standing in for the state store) so each handler runs on its own.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from graphbuild.labels import Label
from graphbuild.plan.definition import DeployContext, DeployPlanContext, Step, StepSpec
from graphbuild.session import Session
from graphbuild.values import FrozenDict, freeze

REPO_ROOT = Path(__file__).resolve().parents[3]


def open_platform(root: Path = REPO_ROOT) -> Session:
    """A session on the platform workspace, read-only (no fact cache written)."""
    return Session.open(root, use_cache=False)


@functools.cache
def platform() -> tuple[Session, Any]:
    """One read-only session on the platform and its fingerprinted worktree, shared by the deploy tests."""
    session = open_platform()
    atexit.register(session.close)
    return session, session.fingerprinted()


def plan_context(head: Any, env: str = "dev", backend: str = "local", variables: Mapping[str, Any] | None = None,
                 base: Any = None) -> DeployPlanContext:
    return DeployPlanContext(env=env, backend=backend, variables=freeze(dict(variables or {})), head=head, base=base)


def steps_of(session: Session, label: str, ctx: DeployPlanContext) -> list[StepSpec]:
    head = ctx.head
    target = head.graph.targets[Label.parse(label)]
    rule = session.registry.rules[target.rule]
    return list(rule.deploy_steps(target, ctx))


class Store:
    """A content-addressed blob store in memory; ``reads`` counts what handlers fetched."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.reads = 0

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return digest

    def read(self, digest: str) -> bytes:
        self.reads += 1
        return self.blobs[digest]


def bind(spec: StepSpec, label: str, fingerprint: str, root: Path, store: Store, *, env: str = "dev",
         operation: str = "apply", overrides: Mapping[str, bytes] | None = None) -> Step:
    """The plan's ``Step`` for ``spec``: its files read from ``root`` (or ``overrides``) into ``store``."""
    overrides = dict(overrides or {})
    files = {p: store.put(overrides[p] if p in overrides else (root / p).read_bytes()) for p in spec.files}
    key = hashlib.sha256(f"{env}|{label}|{spec.name}|{fingerprint}".encode()).hexdigest()
    return Step(key=key, label=label, name=spec.name, phase=spec.phase, handler=spec.handler, request=spec.request,
                files=FrozenDict(files), reversibility=spec.reversibility, estimate_s=spec.estimate_s,
                fingerprint=fingerprint, operation=operation, notes=spec.notes)  # type: ignore[arg-type]


def deploy_context(backend_dir: Path, store: Store, *, env: str = "dev", root: Path = REPO_ROOT,
                   variables: Mapping[str, Any] | None = None) -> DeployContext:
    def no_secrets(name: str) -> str:
        raise AssertionError(f"no handler here resolves a secret ({name})")

    return DeployContext(env=env, root=root, backend_dir=backend_dir, variables=freeze(dict(variables or {})),
                         fingerprints=FrozenDict(), read_blob=store.read, secret=no_secrets)


def run(step: Step, ctx: DeployContext) -> str:
    """Call the step's handler the way the evaluator does: ``module:function``."""
    import importlib

    module, _, name = step.handler.partition(":")
    return getattr(importlib.import_module(module), name)(step, ctx)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), caches left out."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}
