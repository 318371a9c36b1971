"""The release workflow the CLI drives: make and save a plan, read an environment's status.

>>> # with Session.open(".") as s: plan = make_plan(s, "dev", author="li.wei").plan
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphbuild.cache.layered import open_cache
from graphbuild.envs import Environment, load_environment, load_policy, revision_of
from graphbuild.errors import PlanError
from graphbuild.plan.approvals import approval_status, approvers, policy_details
from graphbuild.plan.archive import load_plan, plan_ids, save_plan
from graphbuild.plan.builder import build_plan, desired_state
from graphbuild.plan.definition import Plan
from graphbuild.plan.evaluator import is_empty, journal_for
from graphbuild.run.runner import collect_actions
from graphbuild.run.verdicts import tested_predicate
from graphbuild.state import Leases, Pointers
from graphbuild.state.anchor import open_audit
from graphbuild.state.definition import StateStore
from graphbuild.state.stores import open_store as open_state_store

__all__ = ["Made", "Status", "current_actor", "make_plan", "open_store", "status", "workspace_commit"]


def open_store(env: Environment) -> StateStore:
    """The environment's state store: its ``state`` folder, or ``s3://bucket/prefix`` (graphbuild.state.stores)."""
    settings = env.settings
    return open_state_store(settings.state, root=env.root, endpoint_url=settings.state_endpoint, region=settings.state_region)


def workspace_commit(root: Path) -> str:
    """HEAD's commit, with ``-dirty`` when tracked files have uncommitted changes."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip() or "0" * 40
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True).stdout
    return head + ("-dirty" if dirty.strip() else "")


def current_actor(root: Path, given: str | None = None) -> str:
    """Who runs the command: --author/--by, else GRAPHBUILD_ACTOR, GITHUB_ACTOR, the git user, the login."""
    if given:
        return given
    for name in ("GRAPHBUILD_ACTOR", "GITHUB_ACTOR"):
        if os.environ.get(name):
            return os.environ[name]
    email = subprocess.run(["git", "config", "user.email"], cwd=root, capture_output=True, text=True).stdout.strip()
    return email.split("@")[0] if email else os.environ.get("USER", "unknown")


@dataclass(frozen=True)
class Made:
    plan: Plan
    is_new: bool
    is_empty: bool = False  # the environment already runs these fingerprints: nothing to deploy


def make_plan(session: Any, env_name: str, *, author: str | None = None, keep_empty: bool = True) -> Made:
    """Build the plan for ``env_name`` from the working tree, save it with its files, audit it.

    An empty plan (the environment already runs these fingerprints) is saved only with ``keep_empty``:
    ``graphbuild plan`` keeps it, so a pipeline can deploy the id it printed; a plain ``deploy`` does not.
    """
    root = session.workspace.root
    commit = workspace_commit(root)
    env = load_environment(root, env_name, revision=revision_of(commit))  # never the working tree's edits
    store = open_store(env)
    tested = source = None
    deployable: frozenset[str] = frozenset()
    if env.settings.promote_from is not None:
        if commit.endswith("-dirty"):
            raise PlanError(
                f"{env.name} promotes only committed work; the working tree has uncommitted changes",
                fix="commit (and test) them, or plan for dev",
            )
        source_env = load_environment(root, env.settings.promote_from, revision=env.revision)
        source_store = open_store(source_env)
        pointer = Pointers(source_store).current(source_env.name)
        source = dict(load_plan(source_store, pointer.plan_id).fingerprints) if pointer else {}
        deployable = frozenset(str(label) for label in desired_state(session, source_env, None).specs)
        head = session.fingerprinted()
        fingerprints = {label: fingerprint.data for label, fingerprint in head.fingerprints.items()}
        tested = tested_predicate(open_cache(session.workspace, "read"), lambda label: collect_actions(session, [label]), fingerprints)
    policy = load_policy(root, env.name, revision_of(commit))
    plan, files = build_plan(session, env, store, author=current_actor(root, author), commit=commit, tested=tested, source_fingerprints=source,
                             source_deployable=deployable, policy=policy.digest)
    files[policy.digest] = policy.to_json()  # stored by digest: the policy in force for the plans made on this one
    pointer = Pointers(store).current(env.name)
    empty = pointer is not None and is_empty(store, plan, pointer.plan_id)
    if empty and not keep_empty:
        return Made(plan, False, True)
    is_new = plan.id not in plan_ids(store)
    save_plan(store, plan, files)
    if is_new:
        open_audit(store, env).append("plan", actor=plan.author, env=env.name, plan_id=plan.id, commit=plan.commit, result="made",
                               details={"steps": len(plan.steps), "previous": plan.previous, **policy_details(store, env, plan)})
    return Made(plan, is_new, empty)


@dataclass(frozen=True)
class Status:
    env: str
    plan: Plan | None
    moved_at: str
    moved_by: str
    history: tuple[str, ...]
    pending: tuple[dict[str, Any], ...]  # saved plans made on the current one, not yet deployed
    lease: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "plan": self.plan.id if self.plan else None,
            "commit": self.plan.commit if self.plan else None,
            "moved_at": self.moved_at,
            "moved_by": self.moved_by,
            "fingerprints": dict(self.plan.fingerprints) if self.plan else {},
            "history": list(self.history),
            "pending": list(self.pending),
            "lease": self.lease,
        }


def status(root: Path, env_name: str) -> Status:
    env = load_environment(root, env_name)
    store = open_store(env)
    pointers = Pointers(store)
    pointer = pointers.current(env.name)
    plan = load_plan(store, pointer.plan_id) if pointer else None
    pending = []
    for pid in plan_ids(store):
        candidate = load_plan(store, pid)
        if candidate.env == env.name and candidate.kind == "deploy" and candidate.previous == (pointer.plan_id if pointer else None):
            if pointer is not None and is_empty(store, candidate, pointer.plan_id):
                continue  # it changes nothing: not waiting for anything
            pending.append({
                "plan": pid,
                "commit": candidate.commit,
                "author": candidate.author,
                "steps": len(candidate.steps),
                "approvals": list(approvers(store, pid)),
                **approval_status(store, env, candidate),  # from the policy at its commit; None and why when refused
                "journal": journal_for(store, env.name, candidate).states(),
            })
    lease = Leases(store).current(env.name)
    return Status(
        env.name,
        plan,
        pointer.moved_at if pointer else "",
        pointer.moved_by if pointer else "",
        tuple(p.plan_id for p in pointers.history(env.name)),
        tuple(pending),
        f"{lease.holder} (token {lease.token})" if lease else None,
    )
