"""Approvals: bound to one plan id (a new plan voids them), never from a production plan's author.

>>> # approve(store, audit, env, plan, "dana.kowalski", groups); check_approved(store, env, plan, groups)
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from graphbuild.envs import Environment
from graphbuild.errors import PlanError
from graphbuild.plan.definition import Plan
from graphbuild.state import AuditLog, StateReader, StateStore, check_part

__all__ = ["approve", "approvers", "check_approved", "missing_approvals"]


def _eligible(env: Environment, plan: Plan, who: str, groups: Mapping[str, frozenset[str]]) -> str | None:
    """Why ``who`` may not approve ``plan`` in ``env``, or None."""
    rules = env.settings.approvals
    if who == plan.author and not rules.author_may_approve:
        return f"{who} wrote this plan; in {env.name} the author never approves their own plan"
    if rules.groups and not any(who in groups.get(group, frozenset()) for group in rules.groups):
        return f"{who} is in none of the approver groups of {env.name}: {', '.join(rules.groups)} (environments/groups.toml)"
    return None


def approve(store: StateStore, audit: AuditLog, env: Environment, plan: Plan, who: str, groups: Mapping[str, frozenset[str]]) -> bool:
    """Record ``who``'s approval of ``plan``; False when it was already recorded. Refusals are audited too."""
    if plan.env != env.name:
        raise PlanError(f"plan {plan.id[:12]} is for {plan.env}, not {env.name}", fix=f"pass --env {plan.env}")
    reason = _eligible(env, plan, who, groups)
    if reason is not None:
        audit.append("approval", actor=who, env=env.name, plan_id=plan.id, commit=plan.commit, result="refused", details={"reason": reason})
        raise PlanError(f"approval refused: {reason}", file=env.file, fix="ask an approver from the environment's groups")
    record = json.dumps({"plan_id": plan.id, "env": env.name, "by": who}, sort_keys=True).encode()
    created = store.create(f"approvals/{plan.id}/{check_part(who)}.json", record)
    if created:
        audit.append("approval", actor=who, env=env.name, plan_id=plan.id, commit=plan.commit, result="approved")
    return created


def approvers(reader: StateReader, plan_id: str) -> tuple[str, ...]:
    prefix = f"approvals/{plan_id}/"
    return tuple(sorted(key.removeprefix(prefix).removesuffix(".json") for key in reader.list(prefix)))


def missing_approvals(reader: StateReader, env: Environment, plan: Plan, groups: Mapping[str, frozenset[str]]) -> int:
    """How many more valid approvals the plan needs (rollbacks restore an approved plan and need none)."""
    if plan.kind == "rollback":
        return 0
    valid = [who for who in approvers(reader, plan.id) if _eligible(env, plan, who, groups) is None]
    return max(0, env.settings.approvals.required - len(valid))


def check_approved(reader: StateReader, env: Environment, plan: Plan, groups: Mapping[str, frozenset[str]]) -> None:
    missing = missing_approvals(reader, env, plan, groups)
    if missing:
        rules = env.settings.approvals
        raise PlanError(
            f"plan {plan.id[:12]} needs {missing} more approval(s) for {env.name} "
            f"({rules.required} required from {', '.join(rules.groups) or 'anyone'}; never its author {plan.author})"
            if not rules.author_may_approve
            else f"plan {plan.id[:12]} needs {missing} more approval(s) for {env.name}",
            fix=f"an approver runs `graphbuild approve {plan.id[:12]} --env {env.name} --by NAME`",
        )
