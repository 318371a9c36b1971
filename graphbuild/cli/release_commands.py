"""The release commands: plan, deploy, approve, rollback, status and audit; thin over ``graphbuild.plan``."""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path
from typing import Any

from graphbuild.cli.console import Console
from graphbuild.envs import dirty_environment_files, load_environment, revision_of
from graphbuild.errors import GraphbuildError, PlanError
from graphbuild.fsutil import atomic_write
from graphbuild.plan.approvals import approve, approvers, changed_policies, policy_details, required_approvals
from graphbuild.plan.archive import load_plan, resolve_plan_id, save_plan
from graphbuild.plan.builder import build_rollback
from graphbuild.plan.evaluator import StepResult, deploy, journal_for
from graphbuild.plan.explainer import explain, summary
from graphbuild.plan.workflow import current_actor, make_plan, open_store, status
from graphbuild.state import AuditLog, Leases
from graphbuild.state.anchor import open_audit, verify_anchored
from graphbuild.state.crosscheck import cross_check

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
        case "health" | "drift":
            from graphbuild.cli import health_commands

            return getattr(health_commands, args.command)(root, console, args)
    return 2


def _plan(session: Any, console: Console, args: argparse.Namespace) -> int:
    made = make_plan(session, args.env, author=args.author)
    plan = made.plan
    _warn_dirty(console, session.workspace.root)
    env = load_environment(session.workspace.root, args.env, revision=revision_of(plan.commit))
    store = open_store(env)
    done = journal_for(store, env.name, plan).succeeded()
    given = approvers(store, plan.id)
    if args.out:
        atomic_write(Path(args.out), json.dumps(plan.to_dict(), indent=1, sort_keys=True) + "\n")
    required = required_approvals(store, env, plan)
    policy = policy_details(store, env, plan)
    elsewhere = {name: changes for name, changes in changed_policies(env.root, revision_of(plan.commit), open_store).items() if name != env.name}
    if elsewhere:
        policy["policy_changes_elsewhere"] = elsewhere
    console.result(
        {**plan.to_dict(), "summary": summary(plan), "approvals": list(given), "required_approvals": required, **policy},
        lambda: _policy_banner(policy, "text") + explain(plan, "text", done=done, approvals=given, required=required),
        markdown=lambda: _policy_banner(policy, "markdown") + explain(plan, "markdown", done=done, approvals=given, required=required),
    )
    return EXIT_OK


def _warn_dirty(console: Console, root: Path) -> None:
    dirty = dirty_environment_files(root)
    if dirty:
        console.warn(f"uncommitted changes to {', '.join(dirty)} are ignored: environments and approval policies "
                     "are read from the commit (commit them to take effect)")


def _policy_banner(policy: dict[str, Any], fmt: str) -> str:
    """A loud notice when the plan's approval policy differs from the one in force: it is part of the change."""
    notices = []
    if policy.get("policy_changes"):
        notices.append(("APPROVAL POLICY CHANGE: this plan changes who must approve; it needs the approvals of the policy "
                        f"in force ({(policy['policy_in_force'] or '')[:12]}) as well as its own ({(policy['policy'] or '')[:12]})",
                        policy["policy_changes"]))
    for name, changes in sorted(policy.get("policy_changes_elsewhere", {}).items()):
        notices.append((f"APPROVAL POLICY CHANGE for {name}: this commit changes who must approve its plans", changes))
    if fmt == "markdown":
        return "".join("> [!CAUTION]\n> **" + head + "**\n" + "".join(f"> - `{c}`\n" for c in changes) + "\n" for head, changes in notices)
    return "".join("!!! " + head + "\n" + "".join(f"!!!   {c}\n" for c in changes) + "\n" for head, changes in notices)


def _progress(console: Console):
    def report(result: StepResult) -> None:
        if console.format == "text":
            console.err.write(f"{result.status.upper():8} {result.step.id}  {result.summary}\n")

    return report


def _deploy(root: Path, session_factory: Any, console: Console, args: argparse.Namespace) -> int:
    _warn_dirty(console, root)
    # HEAD's commit (env.revision) locates the state store and the backends; the approval policy is read
    # at the plan's commit (graphbuild.plan.approvals). Never the working tree: a dirty edit changes nothing.
    env = load_environment(root, args.env, revision="HEAD")
    store = open_store(env)
    actor = current_actor(root, args.actor)
    if args.force_unlock:
        broken = Leases(store).force_unlock(env.name)
        if broken is not None:
            open_audit(store, env).append("lease", actor=actor, env=env.name, result="force-unlocked", details={"holder": broken.holder, "token": broken.token})
            console.warn(f"broke the lease of {broken.holder} (token {broken.token})")
    if args.plan:
        plan = load_plan(store, resolve_plan_id(store, args.plan))
    else:
        with session_factory() as session:
            plan = make_plan(session, env.name, author=actor, keep_empty=False).plan  # an empty plan is not kept
    result = deploy(store, env, plan, actor=actor, dry_run=args.dry_run, on_step=_progress(console))
    from graphbuild.cli.health_commands import after_deploy

    guarded = after_deploy(store, env, result, actor=actor, dry_run=args.dry_run)  # [health] after_deploy / auto_rollback
    return _report(console, result, args.dry_run, guarded)


def _report(console: Console, result: Any, dry_run: bool, guarded: Any = None) -> int:
    plan = result.plan
    payload = {
        "plan": plan.id,
        "env": plan.env,
        "kind": plan.kind,
        "noop": result.is_noop,
        "runs": result.runs if result.is_noop else None if dry_run else plan.restores or plan.id,  # the env's plan after this
        "dry_run": dry_run,
        "notes": list(plan.notes),
        "steps": [{"step": r.step.id, "status": r.status, "summary": r.summary, "duration_s": round(r.duration_s, 3)} for r in result.steps],
    }
    if result.drift:  # steps switched by a deploy whose lease was taken over
        payload["drift"] = list(result.drift)

    def text() -> str:
        if result.is_noop:
            return f"{plan.env} already runs plan {(result.runs or plan.id)[:12]}: nothing to do"
        if dry_run:
            return explain(plan, "text", done={r.step.key for r in result.steps if r.status == "done"}) + _forward_only(plan)
        done = sum(r.status == "done" for r in result.steps)
        what = "rolled back to" if plan.kind == "rollback" else "now runs"
        target = plan.restores if plan.kind == "rollback" else plan.id
        drift = "".join(
            f"\nwarning: {step} was switched by a deploy whose lease was taken over; its backend is ahead of the "
            f"pointer (fix: redeploy or roll back that target)" for step in result.drift
        )
        return f"OK: {plan.env} {what} plan {(target or '')[:12]} (commit {short_commit(plan.commit)}): {result.applied} steps applied, {done} already done" + drift

    if guarded is not None:  # the health guard's checks, and the auto-rollback they triggered
        from graphbuild.cli.health_commands import guard_payload, guard_text

        payload["health"] = guard_payload(guarded)
        payload["runs"] = guarded.rolled_back_to or payload["runs"]  # after an auto-rollback, the restored plan
        console.result(payload, lambda: text() + guard_text(guarded))
        return EXIT_OK if guarded.report.is_healthy else EXIT_FAILED
    console.result(payload, text)
    return EXIT_OK


def short_commit(commit: str) -> str:
    """A commit as the text output shows it: 12 hex digits, and ``-dirty`` for uncommitted changes."""
    return commit[:12] + ("-dirty" if commit.endswith("-dirty") else "")


def _forward_only(plan: Any) -> str:
    if not plan.notes:
        return ""
    return (
        f"\n{len(plan.notes)} step(s) listed under 'stays applied' are not pointer-revertible (forward-only or irreversible): "
        "a rollback cannot undo them, so their targets keep what the newer plan applied; applying this rollback needs --confirm"
    )


def _approve(root: Path, console: Console, args: argparse.Namespace) -> int:
    _warn_dirty(console, root)
    env = load_environment(root, args.env, revision="HEAD")  # locates the store; the policy: at the plan's commit
    store = open_store(env)
    plan = load_plan(store, resolve_plan_id(store, args.plan))
    created = approve(store, open_audit(store, env), env, plan, args.by)  # who may approve: read from the plan's commit
    given = approvers(store, plan.id)
    required = required_approvals(store, env, plan)  # what the deploy check demands, not HEAD's [approvals]
    console.result(
        {"plan": plan.id, "env": env.name, "by": args.by, "recorded": created, "approvals": list(given), "required": required},
        lambda: f"{'approved' if created else 'already approved'}: plan {plan.id[:12]} for {env.name} by {args.by} "
        f"({len(given)} of {required} approvals)",
    )
    return EXIT_OK


def _rollback(root: Path, console: Console, args: argparse.Namespace) -> int:
    _warn_dirty(console, root)
    env = load_environment(root, args.env, revision="HEAD")  # locates the store; the policy: at the plan's commit
    store = open_store(env)
    actor = current_actor(root, args.actor)
    to = resolve_plan_id(store, args.to) if args.to else None
    plan = build_rollback(store, env, author=actor, to=to)
    save_plan(store, plan, {})
    if args.dry_run:  # applies nothing, so there is nothing to confirm: it shows the plan and what stays applied
        result = deploy(store, env, plan, actor=actor, confirm=True, dry_run=True)
        return _report(console, result, dry_run=True)
    if plan.notes and not args.confirm:
        console.err.write(explain(plan, "text") + "\n")
        raise PlanError(
            f"{len(plan.notes)} steps stay applied after this rollback: " + "; ".join(plan.notes[:3]),
            fix="check them (above), then rerun with --confirm",
        )
    result = deploy(store, env, plan, actor=actor, confirm=args.confirm, on_step=_progress(console))
    return _report(console, result, False)


def _status(root: Path, console: Console, args: argparse.Namespace) -> int:
    found = status(root, args.env)

    def text() -> str:
        if found.plan is None:
            lines = [f"{found.env}: never deployed"]
        else:
            plan = found.plan
            lines = [
                f"{found.env}: plan {plan.id[:12]}, commit {short_commit(plan.commit)}, deployed {found.moved_at} by {found.moved_by}",
                f"  {len(plan.fingerprints)} targets; {len(found.history)} plans deployed so far",
            ]
            lines += [f"  {label}  {fp[:16]}" for label, fp in sorted(plan.fingerprints.items())]
        if found.lease:
            lines.append(f"  being deployed by {found.lease}")
        for pending in found.pending:
            wait = f"needs {pending['missing_approvals']} more approval(s)" if pending["missing_approvals"] else "approved"
            wait = f"refused: {pending['refused']}" if pending.get("refused") else wait
            lines.append(f"  pending plan {pending['plan'][:12]} by {pending['author']}: {pending['steps']} steps, {wait}")
        return "\n".join(lines)

    console.result(found.to_dict(), text)
    return EXIT_OK


def _verify(console: Console, env: Any, store: Any, log: AuditLog) -> int:
    """The log's own chain, its anchored copies and signed digests ([audit]), and what the trail must account for."""
    report = log.verify()
    records = log.records()
    problems = list(report.problems)
    counts = {"anchored": 0, "digests": 0}
    if env.settings.audit is not None:
        found, counts = verify_anchored(records, env)
        problems += found
    problems += cross_check(store, env.name, records)
    ok = not problems
    payload = {"ok": ok, "records": report.records, "problems": [list(p) for p in problems], **counts,
               "anchor": env.settings.audit.bucket if env.settings.audit else None}
    anchored = f"; {counts['anchored']} anchored, {counts['digests']} signed digests verified" if env.settings.audit else ""
    console.result(
        payload,
        lambda: f"ok: {report.records} audit records, the hash chain is intact{anchored}"
        if ok
        else "\n".join([f"TAMPERED: {len(problems)} problems in {report.records} records:"] + [f"  {where}: {what}" for where, what in problems]),
    )
    return EXIT_OK if ok else EXIT_FAILED


def _audit(root: Path, console: Console, words: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="graphbuild audit")
    parser.add_argument("action", choices=("verify", "export"))
    parser.add_argument("--env", default="prod", help="the environment whose state store holds the trail (default: prod)")
    parser.add_argument("--since", metavar="DATE", help="export: records from this date (YYYY-MM-DD) on")
    parser.add_argument(
        "--format", dest="fmt", choices=("text", "json", "markdown", "csv"),
        help="verify: text or json (default: the global --format); export: csv or json (default: csv; json after a global --format json)",
    )
    parser.add_argument("--out", metavar="FILE", help="export: write to FILE instead of standard output")
    args = parser.parse_args(words)
    if args.action == "verify":
        if args.fmt == "csv":
            parser.error("--format csv applies to export only (verify prints text or json)")
        console = Console(args.fmt or console.format, console.out, console.err)
    fmt = args.fmt or ("json" if console.format == "json" else "csv")
    if args.action == "export" and fmt not in ("csv", "json"):
        parser.error(f"--format {fmt} does not apply to export (choose csv or json)")
    env = load_environment(root, args.env)
    store = open_store(env)
    log = AuditLog(store)
    if args.action == "verify":
        return _verify(console, env, store, log)
    since = None
    if args.since:
        try:
            since = datetime.date.fromisoformat(args.since)
        except ValueError:
            raise GraphbuildError(f"--since {args.since!r} is not a date", fix="write it as YYYY-MM-DD") from None
    text = log.export(since, fmt)
    if args.out:
        atomic_write(Path(args.out), text)
    else:
        console.out.write(text)
    return EXIT_OK
