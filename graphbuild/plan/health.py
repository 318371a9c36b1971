"""Post-deploy health: every deployed target's checks, metrics, and the auto-rollback they may trigger.

``check_health`` runs the monitors (``graphbuild.plan.monitor``) of the steps that deployed what the
environment's pointer names, against the ``[health]`` thresholds of ``environments/<env>.toml``; the
report is healthy when no check failed (a skipped check says why, and is never counted as passed).
``publish_metrics`` sends every check's metrics to CloudWatch (namespace ``graphbuild``, dimensions
``env``, ``target``, ``check``). ``guard_deploy`` is what ``deploy`` does after a successful deploy when
``[health] auto_rollback = true``: on failure it audits the reasons, rolls back to the previous plan
through the ordinary rollback path (``build_rollback`` + ``deploy``) and audits that too::

    report = check_health(store, env)
    report.is_healthy, [c.to_dict() for c in report.failed]
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphbuild.envs import Environment
from graphbuild.errors import GraphbuildError, PlanError
from graphbuild.plan.archive import load_plan, save_plan
from graphbuild.plan.definition import Plan
from graphbuild.plan.monitor import Check, MonitorContext, deployed_steps, monitors, previous_plan, unmonitored
from graphbuild.state import Pointers, StateStore
from graphbuild.state.anchor import open_audit
from graphbuild.values import freeze

__all__ = ["GuardResult", "HealthReport", "check_health", "guard_deploy", "is_guarded", "publish_metrics"]

NAMESPACE = "graphbuild"


@dataclass(frozen=True, slots=True)
class HealthReport:
    env: str
    plan: str | None  # the plan the pointer names (None: never deployed)
    previous: str | None  # the baseline the regressions are measured against
    checks: tuple[Check, ...]

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == "failed")

    @property
    def is_healthy(self) -> bool:
        return not self.failed

    def reasons(self) -> list[str]:
        return [f"{c.target} {c.check}: {c.detail}" for c in self.failed]

    def to_dict(self) -> dict[str, Any]:
        return {"env": self.env, "plan": self.plan, "previous": self.previous, "healthy": self.is_healthy,
                "failed": len(self.failed), "passed": sum(c.status == "passed" for c in self.checks),
                "skipped": sum(c.status == "skipped" for c in self.checks), "checks": [c.to_dict() for c in self.checks]}


def check_health(store: StateStore, env: Environment) -> HealthReport:
    """Run every monitor's health checks on what ``env``'s pointer says is deployed."""
    pointer = Pointers(store).current(env.name)
    if pointer is None:
        return HealthReport(env.name, None, None, ())
    plan = load_plan(store, pointer.plan_id)
    previous = previous_plan(store, env.name, pointer.plan_id)
    ctx = monitor_context(store, env, plan, previous)
    steps = deployed_steps(store, plan)
    checks: list[Check] = []
    for function, watched in monitors(steps, "health"):
        try:
            checks.extend(function(watched, ctx))
        except GraphbuildError as exc:  # a monitor that cannot look is a failed check, with its reason
            checks.extend(Check.of(label, "monitor", "failed", exc.message) for label in sorted({s.label for s in watched}))
    checks.extend(Check.of(step_id.partition("#")[0], "monitor", "skipped", f"{step_id}: its backend declares no health checks")
                  for step_id in unmonitored(steps))
    return HealthReport(env.name, pointer.plan_id, previous.id if previous else None, tuple(checks))


def monitor_context(store: StateStore, env: Environment, plan: Plan, previous: Plan | None) -> MonitorContext:
    health = env.settings.health
    return MonitorContext(
        env=env.name, root=env.root, backend_dir=env.backend_dir, variables=env.variables, plan=plan, previous=previous,
        thresholds=freeze(health.model_dump()), read_blob=store.get_blob, settings=env.backend_settings, secret=env.secret,
    )


def metric_data(report: HealthReport) -> list[dict[str, Any]]:
    """The CloudWatch datums of a report: one ``healthy`` (1/0) per check that ran, and each check's metrics."""
    data = []
    for check in report.checks:
        dimensions = [{"Name": "env", "Value": report.env}, {"Name": "target", "Value": check.target},
                      {"Name": "check", "Value": check.check}]
        if check.status != "skipped":
            data.append({"MetricName": "healthy", "Dimensions": dimensions, "Value": 1.0 if check.status == "passed" else 0.0,
                         "Unit": "Count"})
        data.extend({"MetricName": name, "Dimensions": dimensions, "Value": float(value), "Unit": "None"}
                    for name, value in sorted(check.metrics.items()))
    return data


def publish_metrics(report: HealthReport, *, region: str | None = None) -> int:
    """Send the report's metrics to CloudWatch (``put_metric_data``, 20 datums a call); how many were sent."""
    import boto3

    client = boto3.client("cloudwatch", region_name=region)  # AWS_ENDPOINT_URL reaches moto's server in tests
    now = datetime.datetime.now(datetime.UTC)
    data = [{**datum, "Timestamp": now} for datum in metric_data(report)]
    for start in range(0, len(data), 20):
        client.put_metric_data(Namespace=NAMESPACE, MetricData=data[start:start + 20])
    return len(data)


@dataclass(frozen=True, slots=True)
class GuardResult:
    report: HealthReport
    rolled_back_to: str | None = None  # the plan auto-rollback restored
    rollback_error: str | None = None


def is_guarded(env: Environment) -> bool:
    """Whether a successful deploy of ``env`` runs its health checks (``after_deploy`` or ``auto_rollback``)."""
    return env.settings.health.after_deploy or env.settings.health.auto_rollback


def guard_deploy(store: StateStore, env: Environment, plan: Plan, *, actor: str,
                 environ: Mapping[str, str] | None = None) -> GuardResult:
    """After ``plan`` deployed: health checks, audited; when they fail, roll back to the previous plan."""
    from graphbuild.plan.builder import build_rollback
    from graphbuild.plan.evaluator import deploy

    report = check_health(store, env)
    if env.settings.health.cloudwatch:
        publish_metrics(report, region=env.settings.health.region)
    audit = open_audit(store, env)
    audit.append("health", actor=actor, env=env.name, plan_id=plan.id, commit=plan.commit,
                 result="passed" if report.is_healthy else "failed",
                 details={"failed": report.reasons(), "checks": len(report.checks)})
    if report.is_healthy or not env.settings.health.auto_rollback:
        return GuardResult(report)
    try:
        rollback = build_rollback(store, env, author=actor)
    except PlanError as exc:  # a first deploy has nothing to go back to
        audit.append("auto-rollback", actor=actor, env=env.name, plan_id=plan.id, commit=plan.commit, result="impossible",
                     details={"reasons": report.reasons(), "error": exc.message})
        return GuardResult(report, rollback_error=exc.message)
    save_plan(store, rollback, {})
    audit.append("auto-rollback", actor=actor, env=env.name, plan_id=rollback.id, commit=rollback.commit, result="started",
                 details={"reasons": report.reasons(), "from": plan.id, "to": rollback.restores, "stays_applied": list(rollback.notes)})
    try:
        deploy(store, env, rollback, actor=actor, confirm=True, environ=environ)  # stays_applied is audited above
    except GraphbuildError as exc:
        audit.append("auto-rollback", actor=actor, env=env.name, plan_id=rollback.id, commit=rollback.commit, result="failed",
                     details={"reasons": report.reasons(), "error": exc.message})
        return GuardResult(report, rollback_error=exc.message)
    audit.append("auto-rollback", actor=actor, env=env.name, plan_id=rollback.id, commit=rollback.commit, result="succeeded",
                 details={"reasons": report.reasons(), "from": plan.id, "to": rollback.restores})
    return GuardResult(report, rolled_back_to=rollback.restores)
