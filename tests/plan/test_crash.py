"""Crash safety: SIGKILL a deploy at random points, rerun it, and get exactly what an uncrashed deploy leaves.

A driver process deploys a saved plan whose steps sleep 0.05-0.2 s each; the test kills it after a
random delay, then reruns the deploy in-process (breaking the dead deploy's lease, which names a
process on this host that no longer exists) and checks that the rerun converges: the pointer names
the plan, the backend folder is byte-identical to an uncrashed deploy's, the journal has exactly one
``succeeded`` per step, the rerun applied exactly the steps the killed run had not finished, and the
audit trail verifies.
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from graphbuild.errors import FencingError, StateError
from graphbuild.plan.archive import load_plan
from graphbuild.plan.evaluator import _reconcile, journal_for
from graphbuild.state import AuditLog, Journal, Leases, Pointer, Pointers
from graphbuild.state.journal import fenced_switch, read_switches
from graphbuild.testing import GitWorkspace
from graphbuild.testing.handlers import gate

from .conftest import TARGETS, Release, backend_tree, make_workspace

TRIALS = 24
SEED = 20261126
REPO = Path(__file__).resolve().parents[2]

DRIVER = r"""
import sys, time
from pathlib import Path
from graphbuild.envs import load_environment
from graphbuild.plan.archive import load_plan
from graphbuild.plan.evaluator import deploy
from graphbuild.plan.workflow import open_store

root, plan_id = Path(sys.argv[1]), sys.argv[2]
env = load_environment(root, "dev")
store = open_store(env)
plan = load_plan(store, plan_id)
print("ready", flush=True)
start = time.monotonic()
deploy(store, env, plan, actor="ci")
print("done", time.monotonic() - start, flush=True)
"""

# v2 changes five targets (each step sleeps) and removes the DAG (a retire step)
V2 = {
    "infra/bucket/main.txt": "bucket v2\nDEPLOY_SLEEP 0.05",
    "schemas/events/schema.txt": "events v2\nDEPLOY_SLEEP 0.2",
    "jobs/ingest/job.txt": "ingest v2\nDEPLOY_SLEEP 0.1",
    "models/staged/model.txt": "staged v2\nDEPLOY_SLEEP 0.15",
    "models/report/model.txt": "report v2\nDEPLOY_SLEEP 0.05",
    "dags/daily/BUILD": None,
    "dags/daily/dag.txt": None,
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """dev runs v1; plan v2 is saved, not deployed. Returns the workspace root and v2's plan id."""
    release = Release(make_workspace(tmp_path_factory.mktemp("crash") / "ws", TARGETS))
    release.deploy(release.plan("dev"))
    release.ws.write(V2)
    plan = release.plan("dev")
    assert len(plan.steps) == 6 and plan.steps[0].operation == "apply" and any(s.operation == "retire" for s in plan.steps)
    return release.root, plan.id


def _copy(template: Path, dest: Path) -> Release:
    shutil.copytree(template, dest, symlinks=True)
    return Release(GitWorkspace(dest))


def _driver(root: Path, plan_id: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(root), plan_id],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killed_deploys_converge_when_rerun(template, tmp_path):
    root, plan_id = template
    reference = _copy(root, tmp_path / "reference")
    driver = _driver(reference.root, plan_id)
    out, err = driver.communicate(timeout=60)
    assert driver.returncode == 0, err
    duration = float(out.split()[-1])
    plan = reference.running("dev")
    assert plan is not None and plan.id == plan_id
    expected = backend_tree(reference.backend_dir("dev"))
    assert "infra/bucket/bucket/current" in expected and "dags/daily/daily/current" not in expected

    rng = random.Random(SEED)
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    for trial in range(TRIALS):
        release = _copy(root, tmp_path / f"trial{trial}")
        store, env = release.store(), release.env("dev")
        calls_before = len(release.calls("dev"))
        driver = _driver(release.root, plan_id)
        assert driver.stdout is not None and driver.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.0, duration * 1.1))
        driver.send_signal(signal.SIGKILL)
        driver.communicate(timeout=30)
        killed = driver.returncode == -signal.SIGKILL

        journal = release.journal("dev", plan_id)
        finished = journal.succeeded()
        left = Leases(store).current("dev")
        moved = release.pointer("dev") == plan_id
        calls_killed = len(release.calls("dev"))
        outcomes["killed" if killed else "finished first"] += 1
        outcomes["lease left" if left else "no lease left"] += 1
        outcomes["pointer moved before the kill" if moved else "pointer not moved"] += 1

        result = release.deploy(plan)  # the rerun: resumes, skips what the journal says is done
        assert release.pointer("dev") == plan_id, trial
        assert backend_tree(release.backend_dir("dev")) == expected, trial
        succeeded = Counter(e.step for e in journal.entries() if e.state == "succeeded")
        assert succeeded == Counter({s.key for s in plan.steps}), trial  # exactly one per step
        rerun_calls = release.calls("dev")[calls_killed:]
        assert sorted(line.split()[1] for line in rerun_calls) == sorted(s.id for s in plan.steps if s.key not in finished), trial
        assert calls_killed - calls_before >= len(finished)
        assert moved or not result.is_noop, trial
        report = release.audit().verify()
        assert report.ok, (trial, report.problems)
        records = release.audit().records()
        if result.is_noop:
            # killed after its pointer moved: the rerun returns before taking the lease, so a lease the
            # dead deploy left stays (test_a_deploy_killed_right_after_its_pointer_moved_... below)
            outcomes["rerun was a no-op"] += 1
        else:
            if left is not None:  # the dead deploy's lease was broken, and the break audited
                broken = [r for r in records if r.event == "lease" and r.result == "broken"]
                assert [r.details["holder"] for r in broken] == [left.holder], trial
                assert left.holder.endswith(f":{driver.pid}")
            assert Leases(store).current("dev") is None
        history = [p.plan_id for p in Pointers(store).history("dev")]
        assert history.count(plan_id) == 1 and history[-1] == plan_id, trial
        assert sum(r.event == "deploy" and r.result == "succeeded" and r.plan_id == plan_id for r in records) <= 1
        shutil.rmtree(release.root)
    assert outcomes["killed"] >= TRIALS // 2 and outcomes["lease left"] >= 1, outcomes
    print(f"{TRIALS} trials in {time.monotonic() - started:.1f} s: {dict(outcomes)}")


def test_a_deploy_killed_right_after_its_pointer_moved_is_completed_by_the_rerun(template, tmp_path):
    """GAP (evaluator.deploy): the outcome record ``deploy succeeded`` is appended after the pointer
    moved. A deploy killed between the two leaves the environment on the plan, its lease held by a dead
    process, and no outcome in the audit trail; the rerun returns early as a no-op (before taking the
    lease), so the trail never gets the outcome and the dead lease stays until it expires. This writes
    to the state store exactly what the evaluator writes up to the pointer move, then reruns."""
    root, plan_id = template
    release = _copy(root, tmp_path / "ws")
    store = release.store()
    plan = load_plan(store, plan_id)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    leases = Leases(store)
    lease = leases.acquire("dev", f"ci@{socket.gethostname()}:{dead}", ttl_s=900)
    AuditLog(store).append("deploy", actor="ci", env="dev", plan_id=plan_id, commit=plan.commit, result="started")
    journal = journal_for(store, "dev", plan, leases=leases)
    for step in plan.steps:
        journal.record(step.key, "started", lease)
        journal.record(step.key, "succeeded", lease)
        AuditLog(store).append("step", actor="ci", env="dev", plan_id=plan_id, commit=plan.commit, result="applied",
                               details={"step": step.id, "key": step.key})
    Pointers(store).move("dev", plan.previous, Pointer("dev", plan_id, plan.commit, moved_by="ci"), lease)
    # killed here

    release.deploy(plan)
    results = [r.result for r in release.audit().records() if r.event == "deploy" and r.plan_id == plan_id]
    assert results[-1] == "succeeded", f"the pointer moved to {plan_id[:12]}, the trail says only {results}"
    assert Leases(store).current("dev") is None, "the dead deploy's lease is still held"


# --- fencing: a deploy that stalls past its lease while another takes over


def _stalled(release: Release, plan, name: str, **kwargs) -> tuple[threading.Thread, list[BaseException]]:
    """Deploy ``plan`` in a thread; its step stops at ``gate(<backend_dir>, name)``. Returns the thread and its error, if any."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            release.deploy(plan, actor="alice", **kwargs)
        except BaseException as error:  # checked by the test
            errors.append(error)

    thread = threading.Thread(target=run, name=name)
    thread.start()
    assert gate(release.backend_dir(plan.env), name).reached.wait(30), "the stalled deploy never reached its step"
    return thread, errors


def _agree(release: Release, env: str = "dev") -> None:
    """The backend serves exactly the fingerprints of the plan the pointer names."""
    plan = release.running(env)
    assert plan is not None
    served = {label: release.current(env, label) for label in plan.fingerprints}
    assert served == dict(plan.fingerprints)


def test_a_deploy_stalled_past_its_lease_cannot_switch_after_another_took_over(release, tmp_path):
    """Drill: deploy A's step stalls past its lease (no heartbeat: the process is frozen), deploy B takes
    the lease over and lands; when A's step resumes, its visible switch is refused and the backend still
    serves what the pointer says."""
    report = "//models/report:report"
    release.deploy(release.plan("dev"))
    name = f"stall-{tmp_path.name}"
    release.edit(report, f"report v2\nDEPLOY_WAIT {name}")
    plan_a = release.plan("dev")
    release.edit(report, "report v3")
    plan_b = release.plan("dev")
    assert plan_a.previous == plan_b.previous and plan_a.id != plan_b.id

    thread, errors = _stalled(release, plan_a, name, lease_ttl_s=0.5, heartbeat_s=0)
    try:
        time.sleep(0.7)  # past A's lease
        release.deploy(plan_b, actor="bob")
        assert release.pointer("dev") == plan_b.id
    finally:
        gate(release.backend_dir("dev"), name).opened.set()
        thread.join(30)
    assert len(errors) == 1 and isinstance(errors[0], FencingError), errors
    assert release.pointer("dev") == plan_b.id
    assert release.current("dev", report) == plan_b.fingerprints[report] != plan_a.fingerprints[report]
    _agree(release)
    fenced = [r for r in release.audit().records() if r.result == "fenced"]
    assert [(r.actor, r.plan_id) for r in fenced] == [("alice", plan_a.id)]
    assert release.audit().verify().ok


def test_the_heartbeat_keeps_the_lease_of_a_long_step(release, tmp_path):
    """A step that runs for several lease lifetimes keeps its lease: another deploy is refused meanwhile."""
    report = "//models/report:report"
    release.deploy(release.plan("dev"))
    name = f"long-{tmp_path.name}"
    release.edit(report, f"report v2\nDEPLOY_WAIT {name}")
    plan_a = release.plan("dev")
    release.edit(report, "report v3")
    plan_b = release.plan("dev")

    thread, errors = _stalled(release, plan_a, name, lease_ttl_s=0.6)
    try:
        time.sleep(1.5)  # well past one lease lifetime: only the heartbeat keeps it
        with pytest.raises(StateError, match="is being deployed by alice"):
            release.deploy(plan_b, actor="bob")
    finally:
        gate(release.backend_dir("dev"), name).opened.set()
        thread.join(30)
    assert errors == []
    assert release.pointer("dev") == plan_a.id
    _agree(release)


def test_the_next_deploy_reports_what_a_fenced_out_deploy_switched(release, tmp_path):
    """Reconcile: A switched one target, then stalled and lost its lease; B's plan does not touch that
    target, so B lands with the backend ahead of its pointer there: B reports it (result and audit) once."""
    staged, report = "//models/staged:staged", "//models/report:report"
    release.deploy(release.plan("dev"))
    name = f"drift-{tmp_path.name}"
    release.edit(staged, "staged v2")
    release.ws.write({"dags/daily/dag.txt": f"daily v2\nDEPLOY_WAIT {name}"})
    plan_a = release.plan("dev")
    release.edit(staged, "staged v1")
    release.ws.write({"dags/daily/dag.txt": "daily v3"})
    plan_b = release.plan("dev")
    assert staged in {s.label for s in plan_a.steps} and staged not in {s.label for s in plan_b.steps}

    thread, errors = _stalled(release, plan_a, name, lease_ttl_s=0.5, heartbeat_s=0)
    try:
        time.sleep(0.7)
        result = release.deploy(plan_b, actor="bob")
    finally:
        gate(release.backend_dir("dev"), name).opened.set()
        thread.join(30)
    assert isinstance(errors[0], FencingError)
    drifted = (f"{report}#publish", f"{staged}#publish")  # report depends on staged: A switched both
    assert result.drift == drifted
    for label in (staged, report):  # what the drift report is about: the backend is ahead of the pointer
        assert release.current("dev", label) == plan_a.fingerprints[label] != plan_b.fingerprints[label]
    reconciled = [r for r in release.audit().records() if r.event == "reconcile"]
    assert [(r.result, tuple(r.details["drift"])) for r in reconciled] == [("drift", drifted)]
    release.ws.write({"dags/daily/dag.txt": "daily v4"})
    assert release.deploy(release.plan("dev")).drift == ()  # reported once


def test_reconcile_checks_the_deploys_lease_with_the_deploys_leases(release):
    """The deploy's ``Leases`` (and their clock) decide whether its lease is live while reconciling:
    here the lease is live on the injected clock and long expired on the wall clock."""
    store = release.store("dev")
    now = [1_767_225_600.0]  # 2026-01-01T00:00:00Z
    leases = Leases(store, clock=lambda: now[0])
    stalled = leases.acquire("dev", "alice", ttl_s=60)
    with fenced_switch(store, leases, stalled, "never-landed", "k1", "//x:x#publish"):
        pass
    now[0] += 61
    lease = leases.acquire("dev", "bob", ttl_s=60)  # alice's token is fenced out, her switch unsettled
    plan = release.plan("dev")
    assert _reconcile(store, leases, AuditLog(store), lease, plan, "bob") == ("//x:x#publish",)
    assert [s.reconciled_by for s in read_switches(store, "dev")] == [0, lease.token]
