"""The engine's health and drift machinery on fake targets: kind-agnostic monitors, the guard, auto-rollback.

The monitor is this module (its handler ``monitored_deploy`` is ``fake_deploy``; ``MONITOR`` names this
module): a target is unhealthy while ``<backend_dir>/unhealthy-<name>`` exists, and drifted when its
``current`` file is not the deployed fingerprint.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from graphbuild.plan.drift import find_drift
from graphbuild.plan.health import check_health, guard_deploy, metric_data
from graphbuild.plan.monitor import Check, Drift
from graphbuild.rule import Registry
from graphbuild.testing import FakeRule
from graphbuild.testing.handlers import fake_deploy

from .conftest import Release

MONITOR = __name__
REPORT = "//models/report:report"


def monitored_deploy(step, ctx):
    return fake_deploy(step, ctx)


def health(steps, ctx):
    for step in steps:
        name = step.label.rpartition(":")[2]
        bad = (ctx.backend_dir / f"unhealthy-{name}").exists()
        yield Check.of(step.label, "fake", "failed" if bad else "passed", "injected" if bad else "ok", value=1.0)


def drift(steps, ctx):
    for step in steps:
        current = ctx.backend_dir / step.label.strip("/").replace(":", "/") / "current"
        found = current.read_text() if current.exists() else "missing"
        if found != step.fingerprint:
            yield Drift(step.label, "current", step.fingerprint[:12], found[:12])


class MonitoredRule(FakeRule):
    def deploy_steps(self, target, ctx):
        return tuple(dataclasses.replace(s, handler=f"{__name__}:monitored_deploy") for s in super().deploy_steps(target, ctx))


MONITORED = Registry([MonitoredRule()])


def guarded(release: Release, auto_rollback: bool = True) -> Release:
    text = (release.root / "environments/dev.toml").read_text()
    release.ws.write({"environments/dev.toml": text + f"\n[health]\nauto_rollback = {str(auto_rollback).lower()}\n"})
    release.ws.commit("guard dev")
    return release


def test_a_handler_without_a_monitor_is_skipped_never_passed(release):
    release.deploy(release.plan("dev"))
    report = check_health(release.store(), release.env("dev"))
    assert report.checks and all(c.status == "skipped" and c.check == "monitor" for c in report.checks)
    assert report.is_healthy and report.to_dict()["passed"] == 0
    assert metric_data(report) == []  # a skipped check publishes no healthy=1


def test_monitors_are_found_through_the_handler_module(new_release):
    release = new_release(MONITORED)
    release.deploy(release.plan("dev"))
    report = check_health(release.store(), release.env("dev"))
    assert {c.check for c in report.checks} == {"fake"} and report.is_healthy
    assert len(report.checks) == 6  # every deployed target, from the plan that deployed it
    assert not find_drift(release.store(), release.env("dev")).has_drift


def test_an_unhealthy_deploy_is_rolled_back_and_audited(new_release):
    release = guarded(new_release(MONITORED))
    first = release.plan("dev")
    release.deploy(first)
    release.edit(REPORT, "report v2")
    release.commit()
    second = release.plan("dev")
    release.deploy(second)
    (release.backend_dir("dev") / "unhealthy-report").touch()
    store, env = release.store(), release.env("dev")
    result = guard_deploy(store, env, second, actor="ci")
    assert not result.report.is_healthy and result.rolled_back_to == first.id
    assert release.pointer("dev") == first.id and release.current("dev", REPORT) == first.fingerprints[REPORT]
    events = [(r.event, r.result) for r in release.audit().records()]
    assert ("health", "failed") in events and events[-1] == ("auto-rollback", "succeeded")
    assert list(release.audit().records()[-1].details["reasons"]) == ["//models/report:report fake: injected"]
    assert release.audit().verify().ok


def test_a_first_deploy_has_nothing_to_roll_back_to(new_release):
    release = guarded(new_release(MONITORED))
    plan = release.plan("dev")
    release.deploy(plan)
    (release.backend_dir("dev") / "unhealthy-daily").touch()
    result = guard_deploy(release.store(), release.env("dev"), plan, actor="ci")
    assert result.rolled_back_to is None and "only one plan" in (result.rollback_error or "")
    assert release.pointer("dev") == plan.id
    assert (release.audit().records()[-1].event, release.audit().records()[-1].result) == ("auto-rollback", "impossible")


def test_without_auto_rollback_an_unhealthy_deploy_stays(new_release):
    release = guarded(new_release(MONITORED), auto_rollback=False)
    release.deploy(release.plan("dev"))
    release.edit(REPORT, "report v2")
    release.commit()
    second = release.plan("dev")
    release.deploy(second)
    (release.backend_dir("dev") / "unhealthy-report").touch()
    result = guard_deploy(release.store(), release.env("dev"), second, actor="ci")
    assert not result.report.is_healthy and result.rolled_back_to is None and release.pointer("dev") == second.id


def test_drift_names_a_backend_that_moved_behind_the_pointer(new_release):
    release = new_release(MONITORED)
    release.deploy(release.plan("dev"))
    current = release.backend_dir("dev") / "models/report/report/current"
    current.write_text("0" * 32)
    report = find_drift(release.store(), release.env("dev"))
    assert [(d.target, d.what, d.found) for d in report.drift] == [(REPORT, "current", "0" * 12)]


def test_deployed_steps_are_the_steps_rollback_would_restore_after_changes_and_rollbacks(new_release):
    from graphbuild.plan.archive import load_plan
    from graphbuild.plan.builder import _stored_steps
    from graphbuild.plan.monitor import deployed_steps

    release = new_release(MONITORED)
    release.deploy(release.plan("dev"))
    release.edit(REPORT, "report v2")
    release.commit()
    release.deploy(release.plan("dev"))
    release.rollback("dev")
    release.edit("//jobs/ingest:ingest", "ingest v2")
    release.commit()
    release.deploy(release.plan("dev"))
    store = release.store()
    plan = load_plan(store, release.pointer("dev"))
    steps = deployed_steps(store, plan)
    assert {s.label for s in steps} == set(plan.fingerprints)
    assert sorted(s.key for s in steps) == sorted(s.key for label, fp in plan.fingerprints.items() for s in _stored_steps(store, plan, label, fp))
    report = check_health(store, release.env("dev"))
    assert len(report.checks) == 6 and report.is_healthy
