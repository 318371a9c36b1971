"""Approvals: bound to one plan id (a new plan voids them), never from a production plan's author.

Who must approve is read from git objects at the plan's commit (``graphbuild.envs.load_policy``),
never from the working tree, and must be the policy whose digest the plan recorded. A plan that
changes the policy is governed by both: its own, and the policy in force when it was made (that of
the plan it follows, stored by digest). So loosening prod's policy on a branch needs the approvals
prod's current policy demands. A rollback needs none only when it is genuine (``rollback_problem``).

The policy in force fails closed: when it cannot be established (the plan the environment runs
stores no policy blob and its commit cannot be read), approving and deploying are refused. On a
first deploy there is no policy in force, and the plan's own committed policy governs.

>>> # approve(store, audit, env, plan, "dana.kowalski"); check_approved(store, env, plan)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from graphbuild.envs import Environment, Policy, environment_names, load_environment, load_policy, revision_of
from graphbuild.errors import GraphbuildError, PlanError
from graphbuild.plan.archive import load_plan
from graphbuild.plan.builder import rollback_problem
from graphbuild.plan.definition import Plan
from graphbuild.state import AuditLog, Pointers, StateReader, StateStore, check_part

__all__ = [
    "approval_status",
    "approve",
    "approvers",
    "changed_policies",
    "check_approved",
    "governing_policies",
    "missing_approvals",
    "plan_policy",
    "policy_details",
    "policy_in_force",
    "required_approvals",
]


def plan_policy(env: Environment, plan: Plan) -> Policy:
    """The policy at the plan's commit; refused unless its digest is the one the plan recorded."""
    if plan.policy is None:
        raise PlanError(f"plan {plan.id[:12]} records no approval policy (made by an older graphbuild, or crafted)",
                        fix=f"make a new plan: `graphbuild plan --env {env.name}`")
    policy = load_policy(env.root, env.name, revision_of(plan.commit))
    if policy.digest != plan.policy:
        raise PlanError(
            f"the approval policy of {env.name} at commit {plan.commit[:12]} is not the one plan {plan.id[:12]} "
            f"was made under (digest {policy.digest[:12]}, the plan says {plan.policy[:12]})",
            file=env.file,
            fix=f"make a new plan: `graphbuild plan --env {env.name}`",
        )
    return policy


def policy_in_force(reader: StateReader, env: Environment, plan: Plan) -> Policy | None:
    """The policy of the plan ``plan`` follows (None on a first deploy): stored by digest, else from its commit.

    Raises ``PlanError`` when it cannot be established: never None for an environment that runs a plan.
    """
    return None if plan.previous is None else _policy_of(reader, env, plan.previous)


def changed_policies(root: Path, revision: str, open_store: Callable[[Environment], StateReader]) -> dict[str, list[str]]:
    """Every environment whose policy at ``revision`` differs from the one it runs under now, and how:
    what a pull request's plan shows, whichever environment it is planned for."""
    found: dict[str, list[str]] = {}
    for name in environment_names(root, revision=revision):
        try:
            env = load_environment(root, name, revision=revision)
            reader = open_store(env)
            pointer = Pointers(reader).current(name)
            before = _policy_of(reader, env, pointer.plan_id) if pointer else None
            changes = load_policy(root, name, revision).changes(before) if before is not None else ()
        except GraphbuildError as exc:  # a broken policy file is a change too, and must be seen
            changes = (f"unreadable: {exc}",)
        if changes:
            found[name] = list(changes)
    return found


def _policy_of(reader: StateReader, env: Environment, plan_id: str) -> Policy:
    """The policy plan ``plan_id`` was made under: its stored blob, else read at its commit; else refused."""
    before = load_plan(reader, plan_id)
    if before.policy is not None and reader.has_blob(before.policy):
        return _stored_policy(reader, env, before.policy)
    try:  # a plan made before plans recorded their policy, or whose blob was lost
        policy = load_policy(env.root, env.name, revision_of(before.commit))
    except GraphbuildError as exc:
        stored = "records no policy" if before.policy is None else f"records policy {before.policy[:12]}, which the state store lacks"
        restore = "" if before.policy is None else (
            f"; or store policy blob {before.policy[:12]} again: `graphbuild plan --env {env.name}` "
            "at a commit with that same policy stores it")
        raise PlanError(
            f"the approval policy in force for {env.name} cannot be established: the plan it runs ({plan_id[:12]}) {stored}, "
            f"and its commit {before.commit[:12]} cannot be read ({exc.message}); approving or deploying would loosen it",
            file=env.file,
            fix=f"fetch commit {before.commit[:12]} (in CI: actions/checkout with fetch-depth: 0), "
                f"then run the command again{restore}",
        ) from exc
    if before.policy is not None and policy.digest != before.policy:
        raise PlanError(
            f"the approval policy in force for {env.name} cannot be established: commit {before.commit[:12]} holds policy "
            f"{policy.digest[:12]}, not the {before.policy[:12]} its plan {plan_id[:12]} records (rewritten history?)",
            file=env.file,
            fix=f"store policy blob {before.policy[:12]} again (`graphbuild plan --env {env.name}` at a commit with that policy "
                "stores it, or restore it from a backup of the state store), then run the command again",
        )
    return policy


def _stored_policy(reader: StateReader, env: Environment, digest: str) -> Policy:
    try:
        policy = Policy.from_json(reader.get_blob(digest))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PlanError(f"policy blob {digest[:12]} in {env.name}'s state store is not an approval policy ({exc})",
                        fix="restore the state store from a backup") from exc
    if policy.digest != digest:
        raise PlanError(f"policy blob {digest[:12]} in {env.name}'s state store is not canonical (digest {policy.digest[:12]})",
                        fix="restore the state store from a backup")
    return policy


def governing_policies(reader: StateReader, env: Environment, plan: Plan) -> tuple[Policy, ...]:
    """Every policy whose approvals ``plan`` needs: its own (not for a rollback) and the one in force."""
    found = [] if plan.kind == "rollback" else [plan_policy(env, plan)]
    before = policy_in_force(reader, env, plan)
    if before is not None and before not in found:
        found.append(before)
    return tuple(found)


def policy_details(reader: StateReader, env: Environment, plan: Plan) -> dict[str, Any]:
    """For the audit trail and the plan output: the plan's policy digest, the one in force and what changed.

    When the policy in force cannot be established it says why (``policy_in_force_unknown``) instead
    of raising: a plan is still made and shown; approving or deploying it is what is refused.
    """
    try:
        before = policy_in_force(reader, env, plan)
    except PlanError as exc:
        return {"policy": plan.policy, "policy_in_force": None, "policy_in_force_unknown": exc.message}
    details: dict[str, Any] = {"policy": plan.policy, "policy_in_force": before.digest if before else None}
    if plan.kind != "rollback" and before is not None and plan.policy != before.digest:
        try:
            details["policy_changes"] = list(plan_policy(env, plan).changes(before))
        except GraphbuildError as exc:
            details["policy_changes"] = [f"unreadable: {exc.message}"]
    return details


def _refusal(policies: tuple[Policy, ...], plan: Plan, who: str) -> str | None:
    return next((reason for policy in policies if (reason := policy.eligible(who, author=plan.author)) is not None), None)


def approve(store: StateStore, audit: AuditLog, env: Environment, plan: Plan, who: str) -> bool:
    """Record ``who``'s approval of ``plan``; False when it was already recorded. Refusals are audited too.

    ``who`` must be eligible under every governing policy (read from git at the plan's commit).
    """
    if plan.env != env.name:
        raise PlanError(f"plan {plan.id[:12]} is for {plan.env}, not {env.name}", fix=f"pass --env {plan.env}")
    policies = governing_policies(store, env, plan)
    details = policy_details(store, env, plan)
    reason = _refusal(policies, plan, who)
    if reason is not None:
        audit.append("approval", actor=who, env=env.name, plan_id=plan.id, commit=plan.commit, result="refused",
                     details={"reason": reason, **details})
        raise PlanError(f"approval refused: {reason}", file=env.file, fix="ask an approver from the environment's groups")
    record = json.dumps({"plan_id": plan.id, "env": env.name, "by": who}, sort_keys=True).encode()
    created = store.create(f"approvals/{plan.id}/{check_part(who)}.json", record)
    if created:
        audit.append("approval", actor=who, env=env.name, plan_id=plan.id, commit=plan.commit, result="approved", details=details)
    return created


def approvers(reader: StateReader, plan_id: str) -> tuple[str, ...]:
    prefix = f"approvals/{plan_id}/"
    return tuple(sorted(key.removeprefix(prefix).removesuffix(".json") for key in reader.list(prefix)))


def missing_approvals(reader: StateReader, env: Environment, plan: Plan) -> int:
    """How many more valid approvals the plan needs under its strictest governing policy.

    A genuine rollback (it restores a plan the environment ran) needs none.
    """
    if _is_genuine_rollback(reader, env, plan):
        return 0
    return max((_missing(reader, policy, plan) for policy in governing_policies(reader, env, plan)), default=0)


def required_approvals(reader: StateReader, env: Environment, plan: Plan) -> int:
    """How many approvals ``plan`` needs in all: what ``plan`` and ``approve`` show, what ``check_approved`` enforces."""
    if _is_genuine_rollback(reader, env, plan):
        return 0
    return max((policy.required for policy in governing_policies(reader, env, plan)), default=0)


def _is_genuine_rollback(reader: StateReader, env: Environment, plan: Plan) -> bool:
    return plan.kind == "rollback" and rollback_problem(reader, env, plan) is None


def approval_status(reader: StateReader, env: Environment, plan: Plan) -> dict[str, Any]:
    """``missing_approvals`` for a status report; a plan whose policy cannot be verified is ``refused``."""
    try:
        return {"missing_approvals": missing_approvals(reader, env, plan)}
    except GraphbuildError as exc:
        return {"missing_approvals": None, "refused": exc.message}


def _missing(reader: StateReader, policy: Policy, plan: Plan) -> int:
    valid = [who for who in approvers(reader, plan.id) if policy.eligible(who, author=plan.author) is None]
    return max(0, policy.required - len(valid))


def check_approved(reader: StateReader, env: Environment, plan: Plan) -> None:
    """Raise ``PlanError`` unless ``plan`` has every approval its governing policies demand."""
    if plan.kind == "rollback":
        problem = rollback_problem(reader, env, plan)
        if problem is not None:
            raise PlanError(f"rollback plan {plan.id[:12]} refused: {problem}",
                            fix=f"make the rollback with `graphbuild rollback --env {env.name} [--to PLAN]`")
        return
    policies = governing_policies(reader, env, plan)
    for policy in policies:
        missing = _missing(reader, policy, plan)
        if not missing:
            continue
        which = "the policy in force" if policy.digest != plan.policy else "its policy"
        changed = " (the plan changes the approval policy; it needs the approvals of the policy in force)" if len(policies) > 1 else ""
        raise PlanError(
            f"plan {plan.id[:12]} needs {missing} more approval(s) for {env.name} under {which}: "
            f"{policy.required} required from {', '.join(policy.groups) or 'anyone'}"
            + ("" if policy.author_may_approve else f"; never its author {plan.author}") + changed,
            fix=f"an approver runs `graphbuild approve {plan.id[:12]} --env {env.name} --by NAME`",
        )
