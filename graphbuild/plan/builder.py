"""The plan builder: pure functions from a fingerprinted workspace and an environment's state to a plan.

``build_plan`` asks each rule that deploys (``DeployProvider``) for the steps of every target, keeps
the steps of targets whose data fingerprint differs from what the environment runs, adds ``retire``
steps for targets that left the workspace, and orders them by phase, then dependencies first.
``build_rollback`` makes the plan that restores an earlier plan's state from the steps already
stored: nothing is rebuilt. Neither writes anything: the caller saves the plan and its files.

>>> # plan, files = build_plan(session, env, store, author="li.wei", commit="3f2a...", tested=tested)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from graphbuild.envs import Environment
from graphbuild.errors import GraphbuildError, PlanError
from graphbuild.labels import Label
from graphbuild.plan.archive import load_plan
from graphbuild.plan.definition import (
    DeployPlanContext,
    DeployProvider,
    Plan,
    PlanId,
    Reversibility,
    Step,
    StepSpec,
)
from graphbuild.state import Pointers, StateReader
from graphbuild.values import canonical_json, thaw

__all__ = ["Desired", "build_plan", "build_rollback", "desired_state", "plan_context_of", "rollback_problem", "step_key"]


def step_key(env: str, label: str, spec_name: str, fingerprint: str, request: Any, files: Mapping[str, str], operation: str) -> str:
    """The idempotency key: the same step of the same target version in the same environment."""
    content = {
        "env": env,
        "label": label,
        "step": spec_name,
        "fingerprint": fingerprint,
        "request": thaw(request),
        "files": dict(files),
        "operation": operation,
    }
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


@dataclass(frozen=True)
class Desired:
    """What the workspace wants an environment to run: every deployable target's specs and fingerprint."""

    specs: Mapping[Label, tuple[StepSpec, ...]]  # in dependency order
    fingerprints: Mapping[Label, str]
    metadata: Mapping[Label, str]


def plan_context_of(env: Environment, rule: str, head: Any, base: Any | None, memo: dict[Any, Any]) -> DeployPlanContext:
    """What ``rule`` sees when it plans for ``env``: its backend, that backend's section (validated by the
    backend), the file's text for error lines, and the names (never values) of the environment's secrets."""
    backend = env.backend(rule)
    return DeployPlanContext(env.name, backend, env.variables, head, base, memo, settings=env.backend_settings(backend),
                             source=env.text, secrets=frozenset(env.settings.secrets))


def desired_state(session: Any, env: Environment, base: Any | None) -> Desired:
    """Ask every deploying rule for the steps of each of its targets (dependencies first)."""
    head = session.fingerprinted()
    memo: dict[Any, Any] = {}  # this plan's, shared by its rules (DeployPlanContext.memo)
    contexts: dict[str, DeployPlanContext] = {}
    specs: dict[Label, tuple[StepSpec, ...]] = {}
    for label in head.graph.order:
        target = head.graph.targets[label]
        rule = session.registry.rules.get(target.rule)
        if not isinstance(rule, DeployProvider):
            continue
        if target.rule not in contexts:
            contexts[target.rule] = plan_context_of(env, target.rule, head, base, memo)
        found = tuple(rule.deploy_steps(target, contexts[target.rule]))
        if found:
            specs[label] = found
    return Desired(
        specs,
        {label: head.fingerprints[label].data for label in specs},
        {label: head.fingerprints[label].metadata for label in specs},
    )


def build_plan(
    session: Any,
    env: Environment,
    state: StateReader,
    *,
    author: str,
    commit: str,
    tested: Callable[[Label], bool] | None = None,
    source_fingerprints: Mapping[str, str] | None = None,
    source_deployable: frozenset[str] = frozenset(),
    policy: str | None = None,
) -> tuple[Plan, dict[str, bytes]]:
    """The plan that moves ``env`` from what it runs to the working tree; and the files its steps apply.

    ``tested`` and ``source_fingerprints`` (the promotion source's deployed fingerprints) are required
    for an environment that promotes: every changed target must have passed ``graphbuild test`` and,
    where the source environment deploys it too, run there at the same fingerprint. ``policy`` is the
    digest of the approval policy at ``commit`` (``graphbuild.envs.Policy``); the plan records it.
    """
    pointer = Pointers(state).current(env.name)
    previous = load_plan(state, pointer.plan_id) if pointer else None
    base = _base(session, previous)
    desired = desired_state(session, env, base)
    before = dict(previous.fingerprints) if previous else {}
    before_metadata = dict(previous.metadata) if previous else {}
    changed = [label for label, fp in desired.fingerprints.items() if before.get(str(label)) != fp]
    if env.settings.promote_from is not None:
        _check_promotion(env, changed, desired.fingerprints, tested, source_fingerprints, source_deployable)
    # a metadata-only change (descriptions, tags) re-deploys the target and needs no test verdict
    changed += [
        label
        for label, fp in desired.metadata.items()
        if label not in changed and str(label) in before and before_metadata.get(str(label)) != fp
    ]

    snapshot = session.snapshot()
    files: dict[str, bytes] = {}
    steps: list[tuple[tuple[int, int, int], Step]] = []
    order = {label: i for i, label in enumerate(session.fingerprinted().graph.order)}
    for label in changed:
        fp = desired.fingerprints[label]
        for n, spec in enumerate(desired.specs[label]):
            digests = {}
            for path in spec.files:
                if snapshot.is_symlink(path):  # its link text would be deployed, its target never should be
                    raise PlanError(
                        f"{label} deploys {path}, which is a symlink; graphbuild never deploys through symlinks",
                        file=path,
                        fix="replace the symlink with the file itself",
                    )
                data = snapshot.read(path)
                digest = hashlib.sha256(data).hexdigest()
                files[digest] = data
                digests[path] = digest
            step = _step(env.name, str(label), spec, fp, digests)
            steps.append(((int(spec.phase), order[label], n), step))
    removed = sorted(set(before) - {str(label) for label in desired.fingerprints})
    for label in removed:
        for n, step in enumerate(_stored_steps(state, previous, label, before[label])):
            retire = _retire(env.name, step)
            steps.append(((int(step.phase), -1, n), retire))  # retired targets first within their phase
    ordered = tuple(step for _, step in sorted(steps, key=lambda item: item[0]))
    plan = Plan(
        env=env.name,
        commit=commit,
        author=author,
        previous=PlanId(pointer.plan_id) if pointer else None,
        fingerprints=_frozen({str(label): fp for label, fp in desired.fingerprints.items()}),
        steps=ordered,
        metadata=_frozen({str(label): fp for label, fp in desired.metadata.items()}),
        order=tuple(str(label) for label in desired.specs),
        policy=policy,
    )
    return plan, files


def build_rollback(state: StateReader, env: Environment, *, author: str, to: str | None = None) -> Plan:
    """The plan that puts ``env`` back on an earlier plan's state (default: the one before the current).

    It re-applies the earlier versions' pointer-revertible steps from the store; forward-only and
    irreversible steps applied since then stay as they are and are listed in the plan's notes.
    """
    pointers = Pointers(state)
    pointer = pointers.current(env.name)
    if pointer is None:
        raise PlanError(f"environment {env.name} has never been deployed", fix="there is nothing to roll back")
    current = load_plan(state, pointer.plan_id)
    target_id = to or _previous_deployed(pointers, env.name, pointer.plan_id)
    if target_id == pointer.plan_id:
        raise PlanError(f"environment {env.name} already runs plan {target_id[:12]}", fix="name an earlier plan with --to")
    deployed = {p.plan_id for p in pointers.history(env.name)}
    if target_id not in deployed:
        raise PlanError(
            f"plan {target_id[:12]} never ran in {env.name}",
            fix="roll back to a plan the environment ran: `graphbuild status --env ENV` lists them",
        )
    target = load_plan(state, target_id)
    now, then = dict(current.fingerprints), dict(target.fingerprints)
    now_meta, then_meta = dict(current.metadata), dict(target.metadata)
    steps: list[Step] = []
    kept: list[str] = []
    for label in sorted(set(now) | set(then)):
        if now.get(label) == then.get(label) and now_meta.get(label) == then_meta.get(label):
            continue
        if label in then:
            for step in _stored_steps(state, target, label, then[label]):
                if step.reversibility is Reversibility.POINTER:  # the others stay as the newer version left them
                    steps.append(replace(step, key=step_key(env.name, label, step.name, step.fingerprint, step.request, step.files, "rollback")))
        else:
            steps.extend(_retire(env.name, s) for s in _stored_steps(state, current, label, now[label]))
    for label in sorted(now):
        if now.get(label) != then.get(label):
            for step in _stored_steps(state, current, label, now[label]):
                if step.reversibility is not Reversibility.POINTER and label in then:
                    kept.append(f"{step.id} at {now[label][:12]} stays applied ({step.reversibility.value})")
    position = {label: i for i, label in enumerate(target.order or current.order)}
    ordered = [s for _, s in sorted(enumerate(steps), key=lambda item: (int(item[1].phase), position.get(item[1].label, -1), item[0]))]
    return Plan(
        env=env.name,
        commit=target.commit,
        author=author,
        previous=PlanId(pointer.plan_id),
        fingerprints=target.fingerprints,
        steps=tuple(ordered),
        metadata=target.metadata,
        order=target.order,
        kind="rollback",
        restores=PlanId(target_id),
        notes=tuple(sorted(set(kept))),
        policy=target.policy,  # the policy the restored plan was approved and ran under
    )


def rollback_problem(state: StateReader, env: Environment, plan: Plan) -> str | None:
    """Why ``plan`` is not a genuine rollback of ``env`` (None: it is).

    A genuine rollback restores a plan the environment's pointer history shows it ran to completion,
    and is exactly the plan ``build_rollback`` makes from the stored plans now: so its steps, files and
    fingerprints are those that already ran, and it needs no fresh approval.
    """
    if plan.kind != "rollback" or plan.restores is None:
        return "it is not a rollback plan"
    try:
        expected = build_rollback(state, env, author=plan.author, to=plan.restores)
    except GraphbuildError as exc:
        return exc.message
    if expected.id != plan.id:
        return (f"it is not the rollback to plan {plan.restores[:12]} that the stored plans of {env.name} make "
                "(edited or crafted)")
    return None


# --- helpers


def _step(env: str, label: str, spec: StepSpec, fp: str, files: Mapping[str, str]) -> Step:
    return Step(
        key=step_key(env, label, spec.name, fp, spec.request, files, "apply"),
        label=label,
        name=spec.name,
        phase=spec.phase,
        handler=spec.handler,
        request=spec.request,
        files=_frozen(files),
        reversibility=spec.reversibility,
        estimate_s=spec.estimate_s,
        fingerprint=fp,
        notes=spec.notes,
    )


def _retire(env: str, step: Step) -> Step:
    return replace(
        step,
        key=step_key(env, step.label, step.name, step.fingerprint, step.request, step.files, "retire"),
        operation="retire",
        notes=("the target left the workspace",),
    )


def _frozen(mapping: Mapping[str, str]) -> Any:
    from graphbuild.values import freeze

    return freeze(dict(mapping))


def _base(session: Any, previous: Plan | None) -> Any | None:
    """The fingerprinted revision the environment runs (None on a first deploy or an unknown commit)."""
    if previous is None or previous.commit.endswith("-dirty"):
        return None
    try:
        return session.fingerprinted(previous.commit)
    except GraphbuildError:
        return None


def _stored_steps(state: StateReader, newest: Plan | None, label: str, fingerprint: str) -> list[Step]:
    """The steps that deployed ``label`` at ``fingerprint``: found in ``newest`` or the plans before it."""
    plan, seen = newest, set()
    while plan is not None and plan.id not in seen:
        seen.add(plan.id)
        found = [s for s in plan.steps if s.label == label and s.fingerprint == fingerprint and s.operation == "apply"]
        if found:
            return found
        following = plan.restores if plan.kind == "rollback" else plan.previous
        plan = load_plan(state, following) if following else None
    return []


def _previous_deployed(pointers: Pointers, env: str, current: str) -> str:
    history = [p.plan_id for p in pointers.history(env)]
    earlier = [pid for pid in history[:-1] if pid != current]
    if not earlier:
        raise PlanError(f"environment {env} has run only one plan", fix="there is no earlier plan to roll back to")
    return earlier[-1]


def _check_promotion(
    env: Environment,
    changed: Iterable[Label],
    fingerprints: Mapping[Label, str],
    tested: Callable[[Label], bool] | None,
    source: Mapping[str, str] | None,
    deployable: frozenset[str],
) -> None:
    """Every changed target the source environment deploys must run there at this fingerprint; a target
    only this environment deploys (its own infrastructure stack) needs its test verdict only."""
    source = source or {}
    not_promoted = [str(label) for label in changed if str(label) in deployable and source.get(str(label)) != fingerprints[label]]
    if not_promoted:
        raise PlanError(
            f"{len(not_promoted)} targets differ from what {env.settings.promote_from} runs: {', '.join(not_promoted[:5])}"
            + (" ..." if len(not_promoted) > 5 else ""),
            file=env.file,
            fix=f"deploy this commit to {env.settings.promote_from} first; {env.name} promotes only what runs there",
        )
    untested = [str(label) for label in changed if tested is None or not tested(label)]
    if untested:
        raise PlanError(
            f"{len(untested)} targets have not passed `graphbuild test` at these fingerprints: {', '.join(untested[:5])}"
            + (" ..." if len(untested) > 5 else ""),
            fix="run `graphbuild test //...` on this commit (CI does on main); its verdicts reach here through the cache",
        )
