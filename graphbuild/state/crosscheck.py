"""What the audit trail must account for: every journal's deploy, every approval, every pointer move.

The state store holds evidence besides the audit log (deploy journals, approval files, the pointer
history). ``cross_check`` reports any of it the trail does not record, so deleting a record and
re-chaining the log (or a deploy run outside graphbuild) shows up even without an anchor.
"""

from __future__ import annotations

import json
from itertools import zip_longest

from graphbuild.state.audit import AuditRecord
from graphbuild.state.definition import StateReader, check_part
from graphbuild.state.journal import Journal
from graphbuild.state.pointer import Pointers

__all__ = ["cross_check"]

Problem = tuple[int | str, str]


def cross_check(store: StateReader, env: str, records: list[AuditRecord]) -> list[Problem]:
    """Problems (where; what) between ``env``'s journals, approvals and pointer history and ``records``."""
    return _journals(store, env, records) + _approvals(store, env, records) + _pointer_moves(store, env, records)


def _journals(store: StateReader, env: str, records: list[AuditRecord]) -> list[Problem]:
    prefix = f"envs/{check_part(env)}/journal/"
    started = {r.plan_id for r in records if r.env == env and r.event in ("deploy", "rollback") and r.result == "started"}
    applied = {(r.plan_id, r.details.get("key")) for r in records if r.env == env and r.event == "step" and r.result == "applied"}
    problems: list[Problem] = []
    for key in store.list(prefix):
        name = key.removeprefix(prefix).removesuffix(".jsonl")
        plan_id, _, attempt = name.rpartition("-")  # one journal per landing: <plan id>-<attempt>
        plan_id = plan_id if attempt.isdigit() and plan_id else name
        journal = Journal(store, env, name)
        if not journal.entries():
            continue
        if plan_id not in started:
            problems.append((f"journal {plan_id[:12]}", f"a deploy of plan {plan_id[:12]} ran in {env} with no audited start"))
        for step in sorted(journal.succeeded()):
            if (plan_id, step) not in applied:
                problems.append((f"journal {plan_id[:12]}", f"step {step} of plan {plan_id[:12]} succeeded with no audit record"))
    return problems


def _approvals(store: StateReader, env: str, records: list[AuditRecord]) -> list[Problem]:
    audited = {(r.plan_id, r.actor) for r in records if r.event == "approval" and r.result == "approved" and r.env == env}
    problems: list[Problem] = []
    for key in store.list("approvals/"):
        try:
            body = json.loads(store.read(key) or b"")
            plan_id, who, where = body["plan_id"], body["by"], body["env"]
        except (ValueError, KeyError, TypeError):
            problems.append((key, "an approval file graphbuild did not write"))
            continue
        if where == env and (plan_id, who) not in audited:
            problems.append((f"approval {plan_id[:12]}", f"{who}'s approval of plan {plan_id[:12]} has no audit record"))
    return problems


def _pointer_moves(store: StateReader, env: str, records: list[AuditRecord]) -> list[Problem]:
    """The pointer history and the audited successful deploys and rollbacks, in order, name the same plans."""
    moves = [p.plan_id for p in Pointers(store).history(env)]
    audited = [r for r in records if r.env == env and r.event in ("deploy", "rollback") and r.result == "succeeded"]
    for index, (moved, record) in enumerate(zip_longest(moves, audited)):
        if record is None:
            return [(f"pointer move {index + 1}", f"{env} was pointed at plan {moved[:12]} with no audited deploy or rollback")]
        pointer = str(record.details.get("pointer", ""))
        if moved is None:
            return [(record.seq, f"an audited {record.event} to plan {pointer[:12]} is not in {env}'s pointer history")]
        if moved != pointer:
            return [(record.seq, f"{env}'s pointer move {index + 1} is plan {moved[:12]}, but the audited {record.event} says {pointer[:12]}")]
    return []
