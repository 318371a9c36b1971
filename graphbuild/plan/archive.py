"""Plans in the state store: ``plans/<id>.json`` and the files their steps apply, stored by content.

A saved plan is immutable (its id is the hash of its content, and ``create`` never replaces); a plan
can be named by a unique prefix of its id, like a git commit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from graphbuild.errors import PlanError, StateError
from graphbuild.plan.definition import Plan, PlanId
from graphbuild.state import StateReader, StateStore

__all__ = ["load_plan", "plan_ids", "resolve_plan_id", "save_plan"]

_PREFIX = "plans/"


def save_plan(store: StateStore, plan: Plan, blobs: Mapping[str, bytes]) -> PlanId:
    """Store the plan and every file its steps apply; idempotent."""
    for data in blobs.values():
        store.put_blob(data)
    store.create(f"{_PREFIX}{plan.id}.json", json.dumps(plan.to_dict(), sort_keys=True, indent=1).encode())
    return plan.id


def plan_ids(reader: StateReader) -> list[str]:
    return [key.removeprefix(_PREFIX).removesuffix(".json") for key in reader.list(_PREFIX) if key.endswith(".json")]


def resolve_plan_id(reader: StateReader, text: str) -> PlanId:
    """A full plan id from an id or a unique prefix of at least 6 characters."""
    text = text.strip().lower()
    if len(text) < 6 or any(c not in "0123456789abcdef" for c in text):
        raise PlanError(f"{text!r} is not a plan id", fix="pass the id `graphbuild plan` printed (6 or more hex characters)")
    found = [pid for pid in plan_ids(reader) if pid.startswith(text)]
    if len(found) != 1:
        what = "no saved plan" if not found else f"{len(found)} saved plans"
        raise PlanError(f"{what} starts with {text}", fix="pass more characters of the id, or run `graphbuild status`")
    return PlanId(found[0])


def load_plan(reader: StateReader, plan_id: str) -> Plan:
    key = f"{_PREFIX}{plan_id}.json"
    raw = reader.read(key)
    if raw is None:
        raise PlanError(f"no saved plan {plan_id}", file=key, fix="make it with `graphbuild plan --env ENV`")
    try:
        plan = Plan.from_dict(json.loads(raw))
    except (ValueError, KeyError, TypeError) as exc:
        raise StateError(f"saved plan {plan_id} is unreadable ({exc})", file=key) from None
    if plan.id != plan_id:
        raise StateError(f"saved plan {plan_id} does not match its id (edited?)", file=key, fix="make a new plan")
    return plan
