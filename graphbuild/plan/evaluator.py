"""The evaluator: applies exactly one saved plan to its environment, resumably and idempotently.

``deploy`` takes the environment's lease (fencing every state write), refuses a stale plan (the
environment moved since it was made), checks approvals under the policy committed at the plan's
commit (``graphbuild.plan.approvals``) and that a rollback is genuine, then runs each step's handler in order,
journaling ``started`` / ``succeeded`` / ``failed``. A rerun after a crash skips the steps the journal
says succeeded; handlers are idempotent, so a step that crashed after its effect but before its
journal line is applied again to the same result. The pointer moves by compare-and-swap only after
every step succeeded. Every outcome is appended to the audit trail.

>>> # result = deploy(store, env, plan, actor="ci@github")
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import time
from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any, Literal

from graphbuild.envs import Environment
from graphbuild.errors import DeployError, FencingError, GraphbuildError, PlanError, StaleStateError, StateError
from graphbuild.plan.approvals import check_approved, policy_details
from graphbuild.plan.archive import load_plan
from graphbuild.plan.definition import DeployContext, Plan, Step
from graphbuild.secrets import Redactor
from graphbuild.state import AuditLog, Heartbeat, Journal, Lease, Leases, Pointer, Pointers, StateStore, read_fence
from graphbuild.state.anchor import open_audit
from graphbuild.state.journal import fenced_switch, read_switches, switch_key

__all__ = ["DeployResult", "StepResult", "deploy", "is_empty", "journal_for"]

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
    drift: tuple[str, ...] = ()  # steps a fenced-out deploy switched that this plan does not re-apply
    runs: str | None = None  # on a no-op: the plan the environment's pointer names (what `status` shows)

    @property
    def applied(self) -> int:
        return sum(s.status == "applied" for s in self.steps)


def deploy(
    store: StateStore,
    env: Environment,
    plan: Plan,
    *,
    actor: str,
    confirm: bool = False,
    dry_run: bool = False,
    on_step: Callable[[StepResult], None] = lambda result: None,
    lease_ttl_s: float = 900.0,
    heartbeat_s: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> DeployResult:
    """Apply ``plan`` to ``env`` (see the module docstring). ``dry_run`` only says what would run.

    While a step runs, a heartbeat renews the lease every ``heartbeat_s`` (default: a third of
    ``lease_ttl_s``; 0 turns it off, as a stalled process would). Each step's visible switch is fenced
    (``DeployContext.fenced``); the switches a fenced-out deploy made are reconciled first.

    Approvals are checked against the policy read from git at the plan's commit (and the one in force),
    never the caller's. A rollback plan is deployed only when it is genuine.
    """
    if plan.env != env.name:
        raise PlanError(f"plan {plan.id[:12]} is for {plan.env}, not {env.name}", fix=f"pass --env {plan.env}")
    audit = open_audit(store, env)  # anchored in [audit] bucket when the environment has one
    pointers = Pointers(store)
    current = pointers.current(env.name)
    noop = _noop(store, audit, plan, current, actor, dry_run)
    if noop is not None:
        return noop
    _check_fresh(audit, env, plan, current, actor)
    policy = _check_approvals(store, None if dry_run else audit, env, plan, actor)
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
    run = _Run(store, plan, env.name, actor, audit, leases, lease, journal_for(store, env.name, plan, leases=leases),
               Redactor(), on_step, heartbeat_s)
    try:
        _check_fresh(audit, env, plan, pointers.current(env.name), actor)  # again, now that we hold the lease
        run.append(run.event, "started", {"steps": len(plan.steps), "already_done": len(done & {s.key for s in plan.steps}), **policy})
        drift = _reconcile(store, leases, audit, lease, plan, actor)
        context = replace(_context(store, env, plan, run.redactor, environ), fence_token=lease.token, fenced=run.fenced)
        results = tuple(run.apply(step, context, done) for step in plan.steps)
        landing = Pointer(env.name, plan.restores or plan.id, plan.commit, moved_by=actor)
        moved = pointers.move(env.name, plan.previous, landing, run.lease)
        run.append(run.event, "succeeded", {"pointer": moved.plan_id, "applied": sum(r.status == "applied" for r in results)})
    finally:
        leases.release(run.lease)
    return DeployResult(plan, results, drift=drift)


def _noop(store: StateStore, audit: AuditLog, plan: Plan, current: Pointer | None, actor: str, dry_run: bool) -> DeployResult | None:
    """The result of a deploy with nothing to do (the environment already runs the plan, or the plan
    changes nothing), else None. A deploy killed after its pointer moved is completed here."""
    if current is None:
        return None
    if current.plan_id == (plan.restores or plan.id) and plan.previous != current.plan_id:
        if not dry_run:
            _complete(store, audit, plan.env, plan, actor)  # a deploy killed after its pointer moved
        return DeployResult(plan, tuple(StepResult(s, "done") for s in plan.steps), is_noop=True, runs=current.plan_id)
    if is_empty(store, plan, current.plan_id):
        return DeployResult(plan, (), is_noop=True, runs=current.plan_id)  # the pointer stays, rollback keeps its target
    return None


@dataclass(slots=True)
class _Run:
    """What one deploy threads through its steps: its lease (renewed before each step), journal and audit."""

    store: StateStore
    plan: Plan
    env: str
    actor: str
    audit: AuditLog
    leases: Leases
    lease: Lease
    journal: Journal
    redactor: Redactor
    on_step: Callable[[StepResult], None]
    heartbeat_s: float | None

    @property
    def event(self) -> str:
        return "rollback" if self.plan.kind == "rollback" else "deploy"

    def append(self, event: str, result: str, details: Mapping[str, Any], *, secrets: Collection[str] = ()) -> None:
        self.audit.append(event, actor=self.actor, env=self.env, plan_id=self.plan.id, commit=self.plan.commit,
                          result=result, details=details, secrets=secrets)

    def fenced(self, step: Step) -> AbstractContextManager[None]:
        """``DeployContext.fenced``: the step's visible switch under the current lease."""
        return fenced_switch(self.store, self.leases, self.lease, self.plan.id, step.key, step.id)

    def apply(self, step: Step, context: DeployContext, done: frozenset[str]) -> StepResult:
        """Run one step unless an earlier run did, journaled and audited; ``DeployError`` if it fails."""
        if step.key in done:
            return self._report(StepResult(step, "done"))
        self.lease = self.leases.renew(self.lease)
        self.journal.record(step.key, "started", self.lease)
        start = time.monotonic()
        summary, message = self._handle(step, context)
        if message is not None:  # raised outside the handler's exception: its chain may hold a secret
            self.journal.record(step.key, "failed", self.lease, message[:2000])
            self.append("step", "failed", {"step": step.id, "key": step.key, "error": message[:2000]}, secrets=self.redactor.values)
            self.append(self.event, "failed", {"failed_step": step.id})
            self._report(StepResult(step, "failed", message, time.monotonic() - start))
            raise DeployError(
                f"step {step.id} failed: {message.splitlines()[0] if message else 'no message'}; "
                f"{self.env} still runs plan {(self.plan.previous or 'none')[:12]}",
                fix=f"fix the cause and rerun `graphbuild deploy --env {self.env} --plan {self.plan.id[:12]}` "
                f"(done steps are skipped), or `graphbuild rollback --env {self.env}`",
            )
        self.journal.record(step.key, "succeeded", self.lease, summary[:500])
        self.append("step", "applied", {"step": step.id, "key": step.key, "summary": summary[:500]}, secrets=self.redactor.values)
        return self._report(StepResult(step, "applied", summary, time.monotonic() - start))

    def _handle(self, step: Step, context: DeployContext) -> tuple[str, str | None]:
        """The handler's redacted summary, or the redacted message of its failure; a lost lease is raised."""
        try:
            with Heartbeat(self.leases, self.lease, self.heartbeat_s) if self.heartbeat_s != 0 else nullcontext(), \
                    self.redactor.streams():  # a handler printing a secret it resolved prints it masked
                return self.redactor.redact(str(_handler(step.handler)(step, context) or "")), None
        except FencingError as exc:  # another deploy took the lease over: its switch was refused
            self.append(self.event, "fenced", {"step": step.id, "token": self.lease.token, "error": self.redactor.redact(str(exc))[:500]})
            raise
        except Exception as exc:  # a failed step: journaled, audited, reported with how to go on
            return "", self.redactor.redact(f"{type(exc).__name__}: {exc}" if not isinstance(exc, DeployError) else str(exc))

    def _report(self, result: StepResult) -> StepResult:
        self.on_step(result)
        return result


def _reconcile(store: StateStore, leases: Leases, audit: AuditLog, lease: Lease, plan: Plan, actor: str) -> tuple[str, ...]:
    """Report the switches of deploys whose lease was taken over and whose plan never landed, once.

    This plan re-applies the steps it shares with them (handlers are idempotent, so the backend ends
    at this plan's version); any other switched step leaves the backend ahead of the pointer: audited
    as drift and returned, for the operator to redeploy or roll back. ``leases`` are the deploy's own
    (its clock decides whether ``lease`` is live).
    """
    env = lease.env
    fenced_out = set(read_fence(store, env).fenced_out)
    switches = read_switches(store, env)
    unsettled = fenced_out - {s.token for s in switches if s.reconciled_by}
    landed = {p.plan_id for p in Pointers(store).history(env)}
    stray = [s for s in switches if not s.reconciled_by and s.token in unsettled and s.plan_id not in landed]
    if not stray:
        return ()
    labels = {step.label for step in plan.steps}
    repaired = sorted({s.step_id for s in stray if s.step_id.partition("#")[0] in labels})
    drift = tuple(sorted({s.step_id for s in stray} - set(repaired)))
    if drift or any(s.plan_id != plan.id for s in stray):  # resuming the same plan is no news
        audit.append("reconcile", actor=actor, env=env, plan_id=plan.id, commit=plan.commit, result="drift" if drift else "repaired",
                     details={"fenced_out_tokens": sorted({s.token for s in stray}), "reapplied": repaired, "drift": list(drift)})
    with leases.fenced(lease):
        for token in sorted({s.token for s in stray}):
            store.append_line(switch_key(env), json.dumps({"token": token, "reconciled_by": lease.token}, sort_keys=True))
    return drift


def journal_for(store: StateStore, env: str, plan: Plan, *, leases: Leases | None = None) -> Journal:
    """The journal of this deployment of ``plan``: one per time the plan lands, so a rerun after a crash
    resumes it, and deploying the same plan again after a rollback applies every step again."""
    landing = plan.restores or plan.id
    attempt = sum(p.plan_id == landing for p in Pointers(store).history(env))
    return Journal(store, env, f"{plan.id}-{attempt}", leases=leases)


def is_empty(store: StateStore, plan: Plan, running: str) -> bool:
    """Whether ``plan`` changes nothing on an environment running plan ``running`` (no steps, same state)."""
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


def _check_approvals(store: StateStore, audit: AuditLog | None, env: Environment, plan: Plan, actor: str) -> dict[str, Any]:
    """Refuse (and audit) a plan of no known kind, a rollback that is not genuine, a plan whose policy
    at its commit is not the one it recorded, and missing approvals; return the policy details to audit."""
    try:
        if plan.kind not in ("deploy", "rollback") or (plan.kind == "deploy" and plan.restores is not None):
            raise PlanError(f"plan {plan.id[:12]} is not a deploy or a rollback plan (kind {plan.kind}, restores {plan.restores})",
                            fix=f"make a new plan: `graphbuild plan --env {env.name}`")
        check_approved(store, env, plan)
        return policy_details(store, env, plan)
    except GraphbuildError as exc:
        if audit is not None:  # a dry run writes nothing
            audit.append("deploy", actor=actor, env=env.name, plan_id=plan.id, commit=plan.commit, result="refused",
                         details={"reason": exc.message, "kind": plan.kind, "restores": plan.restores, "policy": plan.policy})
        raise


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
