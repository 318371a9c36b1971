"""The evaluator: applies exactly one saved plan to its environment, resumably and idempotently.

``deploy`` takes the environment's lease (fencing every state write), refuses a stale plan (the
environment moved since it was made), checks approvals, then runs each step's handler in order,
journaling ``started`` / ``succeeded`` / ``failed``. A rerun after a crash skips the steps the journal
says succeeded; handlers are idempotent, so a step that crashed after its effect but before its
journal line is applied again to the same result. The pointer moves by compare-and-swap only after
every step succeeded. Every outcome is appended to the audit trail.

>>> # result = deploy(store, env, plan, actor="ci@github", groups=load_groups(root))
"""

from __future__ import annotations

import importlib
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from graphbuild.envs import Environment
from graphbuild.errors import DeployError, PlanError, StaleStateError, StateError
from graphbuild.plan.approvals import check_approved
from graphbuild.plan.archive import load_plan
from graphbuild.plan.definition import DeployContext, Plan, Step
from graphbuild.secrets import Redactor
from graphbuild.state import AuditLog, Journal, Lease, Leases, Pointer, Pointers, StateStore

__all__ = ["DeployResult", "StepResult", "deploy", "journal_for"]

StepStatus = Literal["applied", "done", "failed", "pending"]


@dataclass(frozen=True, slots=True)
class StepResult:
    step: Step
    status: StepStatus  # done: the journal says an earlier run applied it
    summary: str = ""
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class DeployResult:
    plan: Plan
    steps: tuple[StepResult, ...]
    is_noop: bool = False  # the environment already ran this plan

    @property
    def applied(self) -> int:
        return sum(s.status == "applied" for s in self.steps)


def deploy(
    store: StateStore,
    env: Environment,
    plan: Plan,
    *,
    actor: str,
    groups: Mapping[str, frozenset[str]],
    confirm: bool = False,
    dry_run: bool = False,
    on_step: Callable[[StepResult], None] = lambda result: None,
    lease_ttl_s: float = 900.0,
    environ: Mapping[str, str] | None = None,
) -> DeployResult:
    """Apply ``plan`` to ``env`` (see the module docstring). ``dry_run`` only says what would run."""
    if plan.env != env.name:
        raise PlanError(f"plan {plan.id[:12]} is for {plan.env}, not {env.name}", fix=f"pass --env {plan.env}")
    audit = AuditLog(store)
    pointers = Pointers(store)
    landing = plan.restores or plan.id
    current = pointers.current(env.name)
    if current is not None and current.plan_id == landing and plan.previous != current.plan_id:
        if not dry_run:
            _complete(store, audit, env.name, plan, actor)  # a deploy killed after its pointer moved
        return DeployResult(plan, tuple(StepResult(s, "done") for s in plan.steps), is_noop=True)
    if current is not None and _is_empty(store, plan, current.plan_id):
        return DeployResult(plan, (), is_noop=True)  # nothing to apply: the pointer stays, rollback keeps its target
    _check_fresh(audit, env, plan, current, actor)
    check_approved(store, env, plan, groups)
    if plan.notes and not confirm:
        raise PlanError(
            "this rollback leaves steps applied that a pointer cannot revert: " + "; ".join(plan.notes),
            fix="check them, then rerun with --confirm",
        )
    done = journal_for(store, env.name, plan).succeeded()
    if dry_run:
        return DeployResult(plan, tuple(StepResult(s, "done" if s.key in done else "pending") for s in plan.steps))

    leases = Leases(store)
    lease = _acquire(leases, audit, env.name, actor, lease_ttl_s)
    redactor = Redactor()
    journal = journal_for(store, env.name, plan, leases=leases)
    event = "rollback" if plan.kind == "rollback" else "deploy"
    results: list[StepResult] = []
    try:
        _check_fresh(audit, env, plan, pointers.current(env.name), actor)  # again, now that we hold the lease
        audit.append(event, actor=actor, env=env.name, plan_id=plan.id, commit=plan.commit, result="started",
                     details={"steps": len(plan.steps), "already_done": len(done & {s.key for s in plan.steps})})
        context = _context(store, env, plan, redactor, environ)
        for step in plan.steps:
            if step.key in done:
                results.append(StepResult(step, "done"))
                on_step(results[-1])
                continue
            lease = leases.renew(lease)
            journal.record(step.key, "started", lease)
            start = time.monotonic()
            message = None
            try:
                summary = redactor.redact(str(_handler(step.handler)(step, context) or ""))
            except Exception as exc:  # a failed step: journaled, audited, reported with how to go on
                message = redactor.redact(f"{type(exc).__name__}: {exc}" if not isinstance(exc, DeployError) else str(exc))
            if message is not None:  # raised outside the handler's exception: its chain may hold a secret
                journal.record(step.key, "failed", lease, message[:2000])
                audit.append("step", actor=actor, env=env.name, plan_id=plan.id, commit=plan.commit, result="failed",
                             details={"step": step.id, "key": step.key, "error": message[:2000]}, secrets=redactor.values)
                audit.append(event, actor=actor, env=env.name, plan_id=plan.id, commit=plan.commit, result="failed",
                             details={"failed_step": step.id})
                results.append(StepResult(step, "failed", message, time.monotonic() - start))
                on_step(results[-1])
                raise DeployError(
                    f"step {step.id} failed: {message.splitlines()[0] if message else 'no message'}; "
                    f"{env.name} still runs plan {(plan.previous or 'none')[:12]}",
                    fix=f"fix the cause and rerun `graphbuild deploy --env {env.name} --plan {plan.id[:12]}` "
                    f"(done steps are skipped), or `graphbuild rollback --env {env.name}`",
                )
            journal.record(step.key, "succeeded", lease, summary[:500])
            audit.append("step", actor=actor, env=env.name, plan_id=plan.id, commit=plan.commit, result="applied",
                         details={"step": step.id, "key": step.key, "summary": summary[:500]}, secrets=redactor.values)
            results.append(StepResult(step, "applied", summary, time.monotonic() - start))
            on_step(results[-1])
        moved = pointers.move(env.name, plan.previous, Pointer(env.name, landing, plan.commit, moved_by=actor), lease)
        audit.append(event, actor=actor, env=env.name, plan_id=plan.id, commit=plan.commit, result="succeeded",
                     details={"pointer": moved.plan_id, "applied": sum(r.status == "applied" for r in results)})
    finally:
        leases.release(lease)
    return DeployResult(plan, tuple(results))


def journal_for(store: StateStore, env: str, plan: Plan, *, leases: Leases | None = None) -> Journal:
    """The journal of this deployment of ``plan``: one per time the plan lands, so a rerun after a crash
    resumes it, and deploying the same plan again after a rollback applies every step again."""
    landing = plan.restores or plan.id
    attempt = sum(p.plan_id == landing for p in Pointers(store).history(env))
    return Journal(store, env, f"{plan.id}-{attempt}", leases=leases)


def _is_empty(store: StateStore, plan: Plan, running: str) -> bool:
    if plan.steps or plan.kind != "deploy":
        return False
    current = load_plan(store, running)
    return current.fingerprints == plan.fingerprints and current.metadata == plan.metadata


def _complete(store: StateStore, audit: AuditLog, env: str, plan: Plan, actor: str) -> None:
    """Record the outcome of a deploy that died after moving its pointer, and free its lease."""
    event = "rollback" if plan.kind == "rollback" else "deploy"
    outcomes = [r for r in audit.records() if r.event == event and r.plan_id == plan.id and r.env == env]
    if outcomes and outcomes[-1].result == "started":
        leases = Leases(store)
        held = leases.current(env)
        if held is not None and _is_dead_local(held.holder):
            leases.force_unlock(env)
            audit.append("lease", actor=actor, env=env, result="broken", details={"holder": held.holder, "token": held.token,
                                                                                 "reason": "its process is gone"})
        audit.append(event, actor=actor, env=env, plan_id=plan.id, commit=plan.commit, result="succeeded",
                     details={"pointer": plan.restores or plan.id, "completed_by": "rerun after the pointer moved"})


def _check_fresh(audit: AuditLog, env: Environment, plan: Plan, current: Pointer | None, actor: str) -> None:
    running = current.plan_id if current else None
    if running != plan.previous:
        audit.append("deploy", actor=actor, env=env.name, plan_id=plan.id, commit=plan.commit, result="refused",
                     details={"reason": "stale plan", "made_on": plan.previous, "environment_runs": running})
        raise StaleStateError(
            f"plan {plan.id[:12]} is stale: it was made when {env.name} ran plan {(plan.previous or 'none')[:12]}, "
            f"and {env.name} now runs plan {(running or 'none')[:12]}",
            fix=f"make a new plan: `graphbuild plan --env {env.name}`",
        )


def _acquire(leases: Leases, audit: AuditLog, env: str, actor: str, ttl_s: float) -> Lease:
    """Take the environment's lease; a lease left by a dead deploy on this machine is broken (and audited)."""
    holder = f"{actor}@{socket.gethostname()}:{os.getpid()}"
    try:
        return leases.acquire(env, holder, ttl_s)
    except StaleStateError:
        raise
    except StateError:
        held = leases.current(env)
        if held is None or not _is_dead_local(held.holder):
            raise
        leases.force_unlock(env)
        audit.append("lease", actor=actor, env=env, result="broken", details={"holder": held.holder, "token": held.token,
                                                                             "reason": "its process is gone"})
        return leases.acquire(env, holder, ttl_s)


def _is_dead_local(holder: str) -> bool:
    where, _, pid = holder.rpartition(":")
    host = where.rpartition("@")[2]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _handler(spec: str) -> Callable[[Step, DeployContext], object]:
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise DeployError(f"deploy handler {spec!r} cannot be loaded: {exc}", fix="check the rule's StepSpec.handler") from None


def _context(store: StateStore, env: Environment, plan: Plan, redactor: Redactor, environ: Mapping[str, str] | None) -> DeployContext:
    def secret(name: str) -> str:
        value = env.secret(name, environ=environ)
        redactor.add(value)
        return value

    return DeployContext(
        env=env.name,
        root=env.root,
        backend_dir=env.backend_dir,
        variables=env.variables,
        fingerprints=plan.fingerprints,
        read_blob=store.get_blob,
        secret=secret,
    )
