"""``graphbuild health`` and ``graphbuild drift``, and the health guard ``deploy`` runs; thin over ``graphbuild.plan``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from graphbuild.cli.console import Console
from graphbuild.envs import load_environment
from graphbuild.plan.drift import find_drift
from graphbuild.plan.health import GuardResult, HealthReport, check_health, guard_deploy, is_guarded, publish_metrics
from graphbuild.plan.workflow import open_store

__all__ = ["after_deploy", "drift", "guard_payload", "guard_text", "health"]

EXIT_OK, EXIT_FAILED = 0, 1


def health(root: Path, console: Console, args: argparse.Namespace) -> int:
    """Run the health checks on what the pointer says is deployed; metrics to CloudWatch when configured."""
    env = load_environment(root, args.env, revision="HEAD")
    report = check_health(open_store(env), env)
    payload = report.to_dict()
    if env.settings.health.cloudwatch:
        payload["cloudwatch"] = publish_metrics(report, region=env.settings.health.region)
    console.result(payload, lambda: health_text(report))
    return EXIT_OK if report.is_healthy else EXIT_FAILED


def health_text(report: HealthReport) -> str:
    if report.plan is None:
        return f"{report.env}: never deployed, nothing to check"
    head = (f"{'HEALTHY' if report.is_healthy else 'UNHEALTHY'}: {report.env} runs plan {report.plan[:12]} "
            f"({len(report.failed)} failed, {sum(c.status == 'passed' for c in report.checks)} passed, "
            f"{sum(c.status == 'skipped' for c in report.checks)} skipped)")
    return "\n".join([head] + [f"  {c.status.upper():7} {c.target} {c.check}: {c.detail}" for c in report.checks])


def drift(root: Path, console: Console, args: argparse.Namespace) -> int:
    """Compare the backends with the pointer's plan; exit 1 with the list when anything differs."""
    env = load_environment(root, args.env, revision="HEAD")
    report = find_drift(open_store(env), env)

    def text() -> str:
        if report.plan is None:
            return f"{report.env}: never deployed, nothing to compare"
        if not report.has_drift:
            return f"no drift: {report.env} matches plan {report.plan[:12]} ({report.checked} deployed steps compared)"
        return "\n".join([f"DRIFT: {len(report.drift)} differences from plan {report.plan[:12]} in {report.env}:"]
                         + [f"  {d.target} {d.what}: expected {d.expected}, found {d.found}" for d in report.drift])

    console.result(report.to_dict(), text)
    return EXIT_FAILED if report.has_drift else EXIT_OK


def after_deploy(store: Any, env: Any, result: Any, *, actor: str, dry_run: bool) -> GuardResult | None:
    """The health guard of a deploy that applied a new plan, when ``[health]`` asks for it; else None."""
    if dry_run or result.is_noop or result.plan.kind != "deploy" or not is_guarded(env):
        return None
    return guard_deploy(store, env, result.plan, actor=actor)


def guard_payload(guarded: GuardResult) -> dict[str, Any]:
    return {**guarded.report.to_dict(), "rolled_back_to": guarded.rolled_back_to, "rollback_error": guarded.rollback_error}


def guard_text(guarded: GuardResult) -> str:
    report = guarded.report
    if report.is_healthy:
        return f"\nhealth: passed ({len(report.checks)} checks)"
    lines = [f"\nhealth: FAILED: {reason}" for reason in report.reasons()]
    if guarded.rolled_back_to:
        lines.append(f"\nauto-rollback: {report.env} rolled back to plan {guarded.rolled_back_to[:12]}")
    elif guarded.rollback_error:
        lines.append(f"\nauto-rollback failed: {guarded.rollback_error}")
    return "".join(lines)
