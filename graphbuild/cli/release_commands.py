"""The release commands: plan, deploy, approve, rollback, status and audit; thin over ``graphbuild.plan``."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

from graphbuild.cli.console import Console
from graphbuild.envs import load_environment, load_groups
from graphbuild.errors import GraphbuildError, PlanError
from graphbuild.fsutil import atomic_write
from graphbuild.plan.approvals import approve, approvers
from graphbuild.plan.archive import load_plan, resolve_plan_id, save_plan
from graphbuild.plan.builder import build_rollback
from graphbuild.plan.evaluator import StepResult, deploy, journal_for
from graphbuild.plan.explainer import explain, summary
from graphbuild.plan.workflow import current_actor, make_plan, open_store, status
from graphbuild.state import AuditLog, Leases

__all__ = ["run"]

EXIT_OK, EXIT_FAILED = 0, 1


def run(root: Path, session_factory: Any, console: Console, args: argparse.Namespace) -> int:
    match args.command:
        case "plan":
            with session_factory() as session:
                return _plan(session, console, args)
        case "deploy":
            return _deploy(root, session_factory, console, args)
        case "approve":
            return _approve(root, console, args)
        case "rollback":
            return _rollback(root, console, args)
        case "status":
            return _status(root, console, args)
        case "audit":
            return _audit(root, console, args.audit_words)
    return 2


def _plan(session: Any, console: Console, args: argparse.Namespace) -> int:
    made = make_plan(session, args.env, author=args.author)
    plan = made.plan
    env = load_environment(session.workspace.root, args.env)
    store = open_store(env)
    done = journal_for(store, env.name, plan).succeeded()
    given = approvers(store, plan.id)
    if args.out:
        atomic_write(Path(args.out), json.dumps(plan.to_dict(), indent=1, sort_keys=True) + "\n")
    required = env.settings.approvals.required
    console.result(
        {**plan.to_dict(), "summary": summary(plan), "approvals": list(given), "required_approvals": required},
        lambda: explain(plan, "text", done=done, approvals=given, required=required),
        markdown=lambda: explain(plan, "markdown", done=done, approvals=given, required=required),
    )
    return EXIT_OK


def _progress(console: Console):
    def report(result: StepResult) -> None:
        if console.format == "text":
            console.err.write(f"{result.status.upper():8} {result.step.id}  {result.summary}\n")

    return report


def _deploy(root: Path, session_factory: Any, console: Console, args: argparse.Namespace) -> int:
    env = load_environment(root, args.env)
    store = open_store(env)
    actor = current_actor(root, args.actor)
    if args.force_unlock:
        broken = Leases(store).force_unlock(env.name)
        if broken is not None:
            AuditLog(store).append("lease", actor=actor, env=env.name, result="force-unlocked", details={"holder": broken.holder, "token": broken.token})
            console.warn(f"broke the lease of {broken.holder} (token {broken.token})")
    if args.plan:
        plan = load_plan(store, resolve_plan_id(store, args.plan))
    else:
        with session_factory() as session:
            plan = make_plan(session, env.name, author=actor).plan
    result = deploy(store, env, plan, actor=actor, groups=load_groups(root), dry_run=args.dry_run, on_step=_progress(console))
    return _report(console, result, args.dry_run)


def _report(console: Console, result: Any, dry_run: bool) -> int:
    plan = result.plan
    payload = {
        "plan": plan.id,
        "env": plan.env,
        "kind": plan.kind,
        "noop": result.is_noop,
        "dry_run": dry_run,
        "steps": [{"step": r.step.id, "status": r.status, "summary": r.summary, "duration_s": round(r.duration_s, 3)} for r in result.steps],
    }

    def text() -> str:
        if result.is_noop:
            return f"{plan.env} already runs plan {plan.id[:12]}: nothing to do"
        if dry_run:
            return explain(plan, "text", done={r.step.key for r in result.steps if r.status == "done"})
        done = sum(r.status == "done" for r in result.steps)
        what = "rolled back to" if plan.kind == "rollback" else "now runs"
        target = plan.restores if plan.kind == "rollback" else plan.id
        return f"OK: {plan.env} {what} plan {(target or '')[:12]} (commit {plan.commit[:12]}): {result.applied} steps applied, {done} already done"

    console.result(payload, text)
    return EXIT_OK


def _approve(root: Path, console: Console, args: argparse.Namespace) -> int:
    env = load_environment(root, args.env)
    store = open_store(env)
    plan = load_plan(store, resolve_plan_id(store, args.plan))
    created = approve(store, AuditLog(store), env, plan, args.by, load_groups(root))
    given = approvers(store, plan.id)
    required = env.settings.approvals.required
    console.result(
        {"plan": plan.id, "env": env.name, "by": args.by, "recorded": created, "approvals": list(given), "required": required},
        lambda: f"{'approved' if created else 'already approved'}: plan {plan.id[:12]} for {env.name} by {args.by} "
        f"({len(given)} of {required} approvals)",
    )
    return EXIT_OK


def _rollback(root: Path, console: Console, args: argparse.Namespace) -> int:
    env = load_environment(root, args.env)
    store = open_store(env)
    actor = current_actor(root, args.actor)
    to = resolve_plan_id(store, args.to) if args.to else None
    plan = build_rollback(store, env, author=actor, to=to)
    save_plan(store, plan, {})
    if plan.notes and not args.confirm and not args.dry_run:
        console.err.write(explain(plan, "text") + "\n")
        raise PlanError(
            f"{len(plan.notes)} steps stay applied after this rollback: " + "; ".join(plan.notes[:3]),
            fix="check them (above), then rerun with --confirm",
        )
    result = deploy(store, env, plan, actor=actor, groups=load_groups(root), confirm=args.confirm, dry_run=args.dry_run, on_step=_progress(console))
    return _report(console, result, args.dry_run)


def _status(root: Path, console: Console, args: argparse.Namespace) -> int:
    found = status(root, args.env)

    def text() -> str:
        if found.plan is None:
            lines = [f"{found.env}: never deployed"]
        else:
            plan = found.plan
            lines = [
                f"{found.env}: plan {plan.id[:12]}, commit {plan.commit[:12]}, deployed {found.moved_at} by {found.moved_by}",
                f"  {len(plan.fingerprints)} targets; {len(found.history)} plans deployed so far",
            ]
            lines += [f"  {label}  {fp[:16]}" for label, fp in sorted(plan.fingerprints.items())]
        if found.lease:
            lines.append(f"  being deployed by {found.lease}")
        for pending in found.pending:
            wait = f"needs {pending['missing_approvals']} more approval(s)" if pending["missing_approvals"] else "approved"
            lines.append(f"  pending plan {pending['plan'][:12]} by {pending['author']}: {pending['steps']} steps, {wait}")
        return "\n".join(lines)

    console.result(found.to_dict(), text)
    return EXIT_OK


def _audit(root: Path, console: Console, words: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="graphbuild audit")
    parser.add_argument("action", choices=("verify", "export"))
    parser.add_argument("--env", default="prod", help="the environment whose state store holds the trail (default: prod)")
    parser.add_argument("--since", metavar="DATE", help="export: records from this date (YYYY-MM-DD) on")
    parser.add_argument("--format", dest="fmt", choices=("csv", "json"), default="csv", help="export format (default: csv)")
    parser.add_argument("--out", metavar="FILE", help="export: write to FILE instead of standard output")
    args = parser.parse_args(words)
    env = load_environment(root, args.env)
    log = AuditLog(open_store(env))
    if args.action == "verify":
        report = log.verify()
        payload = {"ok": report.ok, "records": report.records, "problems": [list(p) for p in report.problems]}
        console.result(
            payload,
            lambda: f"ok: {report.records} audit records, the hash chain is intact"
            if report.ok
            else "\n".join([f"TAMPERED: {len(report.problems)} problems in {report.records} records:"] + [f"  {where}: {what}" for where, what in report.problems]),
        )
        return EXIT_OK if report.ok else EXIT_FAILED
    since = None
    if args.since:
        try:
            since = datetime.date.fromisoformat(args.since)
        except ValueError:
            raise GraphbuildError(f"--since {args.since!r} is not a date", fix="write it as YYYY-MM-DD") from None
    text = log.export(since, args.fmt)
    if args.out:
        atomic_write(Path(args.out), text)
    else:
        sys.stdout.write(text)
    return EXIT_OK
