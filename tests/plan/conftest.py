"""A small release workspace: six fake targets in every phase, dev -> staging -> prod, and helpers.

``Release`` drives the library in-process the way the CLI does (make_plan, approve, deploy,
build_rollback) with ``Registry([FakeRule()])``; each target's ``publish`` step is
``graphbuild.testing.handlers:fake_deploy``, which keeps every version under
``<backend_dir>/<pkg>/<name>/versions/<fingerprint>`` and points ``current`` at the applied one.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from graphbuild.envs import Environment, load_environment, load_groups
from graphbuild.plan.approvals import approve
from graphbuild.plan.archive import load_plan, save_plan
from graphbuild.plan.builder import build_rollback
from graphbuild.plan.definition import Plan
from graphbuild.plan.evaluator import DeployResult, deploy, journal_for
from graphbuild.plan.workflow import make_plan, open_store
from graphbuild.rule import Registry
from graphbuild.run.runner import TestRequest, TestRun, run_tests
from graphbuild.state import AuditLog, Journal, LocalStore, Pointers
from graphbuild.testing import FakeRule, GitWorkspace

REGISTRY = Registry([FakeRule()])
AUTHOR = "li.wei"  # in data-platform: may approve staging plans of others, never prod

SETTINGS = """\
[workspace]
ignore = ["environments/**", ".gitignore"]
"""

GITIGNORE = "/state/\n/local/\n/cache/\n.graphbuild-durations.json\n"

ENVIRONMENTS = {
    "environments/dev.toml": """\
description = "Development."
state = "state"
backend_dir = "local/dev"

[approvals]
required = 0
author_may_approve = true

[variables]
schema = "analytics"

[secrets]
warehouse = "secret:aws-sm:finsight/dev/warehouse"
""",
    "environments/staging.toml": """\
description = "Staging."
promote_from = "dev"
state = "state"
backend_dir = "local/staging"

[approvals]
required = 1
groups = ["data-platform", "data-platform-leads"]
author_may_approve = false
""",
    "environments/prod.toml": """\
description = "Production."
production = true
promote_from = "staging"
state = "state"
backend_dir = "local/prod"

[approvals]
required = 2
groups = ["data-platform-leads", "risk-engineering"]
author_may_approve = false
""",
    "environments/groups.toml": """\
[groups]
data-platform = ["amara.okafor", "li.wei", "jonas.berg"]
data-platform-leads = ["dana.kowalski", "samuel.adeyemi"]
risk-engineering = ["elena.petrova"]
""",
}

# infrastructure <- schemas <- artifacts <- transformations (2) <- orchestration
TARGETS = {
    "infra/bucket/BUILD": 'fake_target(provides=["s:bucket"], deploy="infrastructure")',
    "infra/bucket/main.txt": "bucket v1",
    "schemas/events/BUILD": 'fake_target(provides=["s:events"], deploy="schemas", reversibility="forward-only")',
    "schemas/events/schema.txt": "events v1",
    "jobs/ingest/BUILD": 'fake_target(provides=["s:ingest"], requires=["s:bucket", "s:events"], deploy="artifacts")',
    "jobs/ingest/job.txt": "ingest v1",
    "models/staged/BUILD": 'fake_target(provides=["s:staged"], requires=["s:ingest"])',
    "models/staged/model.txt": "staged v1",
    "models/report/BUILD": 'fake_target(provides=["s:report"], requires=["s:staged"])',
    "models/report/model.txt": "report v1",
    "dags/daily/BUILD": 'fake_target(requires=["s:report"], deploy="orchestration")',
    "dags/daily/dag.txt": "daily v1",
}

LABELS = (
    "//infra/bucket:bucket",
    "//schemas/events:events",
    "//jobs/ingest:ingest",
    "//models/staged:staged",
    "//models/report:report",
    "//dags/daily:daily",
)

SOURCE_OF = {
    "//infra/bucket:bucket": "infra/bucket/main.txt",
    "//schemas/events:events": "schemas/events/schema.txt",
    "//jobs/ingest:ingest": "jobs/ingest/job.txt",
    "//models/staged:staged": "models/staged/model.txt",
    "//models/report:report": "models/report/model.txt",
    "//dags/daily:daily": "dags/daily/dag.txt",
}


def make_workspace(root: Path, targets: Mapping[str, str] | None = None) -> GitWorkspace:
    """A committed git workspace holding the environments and ``targets`` (default: ``TARGETS``)."""
    ws = GitWorkspace(root, SETTINGS)
    ws.write({".gitignore": GITIGNORE, **ENVIRONMENTS, **(TARGETS if targets is None else targets)})
    ws.commit("base")
    return ws


def backend_tree(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` but the call log: what a deploy leaves in the local backend."""
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "calls.log" and not p.name.startswith(".")
    }


class Silent:
    """A test reporter that records nothing."""

    def planned(self, actions: Any) -> None: ...

    def started(self, actions: Any) -> None: ...

    def finished(self, result: Any) -> None: ...


@dataclass
class Release:
    """The release workflow on one workspace, in-process."""

    ws: GitWorkspace
    registry: Registry = field(default_factory=lambda: REGISTRY)

    @property
    def root(self) -> Path:
        return self.ws.root

    def env(self, name: str) -> Environment:
        return load_environment(self.root, name)

    def store(self, env: str = "dev") -> LocalStore:
        return open_store(self.env(env))

    def groups(self) -> dict[str, frozenset[str]]:
        return load_groups(self.root)

    def test(self) -> TestRun:
        """``graphbuild test //...``: records the verdicts promotion plans check."""
        with self.ws.session(registry=self.registry) as session:
            run = run_tests(session, TestRequest(("//...",), remote_cache="off"), Silent())
        assert run.is_success, [r.outcome.summary for r in run.results]
        return run

    def commit(self, message: str = "change", *, test: bool = True) -> str:
        sha = self.ws.commit(message)
        if test:
            self.test()
        return sha

    def edit(self, label: str, text: str) -> None:
        self.ws.write({SOURCE_OF[label]: text})

    def plan(self, env: str, author: str = AUTHOR) -> Plan:
        with self.ws.session(registry=self.registry) as session:
            return make_plan(session, env, author=author).plan

    def approve(self, plan: Plan, who: str) -> bool:
        store = self.store(plan.env)
        return approve(store, AuditLog(store), self.env(plan.env), plan, who)

    def deploy(self, plan: Plan, actor: str = "ci", **kwargs: Any) -> DeployResult:
        # fake_deploy appends to <backend_dir>/calls.log before creating any folder (see
        # test_first_deploy_creates_the_backend_folder); every other test starts with the folder there
        self.backend_dir(plan.env).mkdir(parents=True, exist_ok=True)
        return deploy(self.store(plan.env), self.env(plan.env), plan, actor=actor, **kwargs)

    def rollback_plan(self, env: str, actor: str = "oncall", to: str | None = None) -> Plan:
        store = self.store(env)
        plan = build_rollback(store, self.env(env), author=actor, to=to)
        save_plan(store, plan, {})
        return plan

    def rollback(self, env: str, actor: str = "oncall", to: str | None = None, **kwargs: Any) -> DeployResult:
        return self.deploy(self.rollback_plan(env, actor, to), actor, **kwargs)

    def promote(self, env: str, approvers: tuple[str, ...] = (), author: str = AUTHOR) -> DeployResult:
        plan = self.plan(env, author)
        for who in approvers:
            self.approve(plan, who)
        return self.deploy(plan)

    # what the environment looks like

    def pointer(self, env: str) -> str | None:
        current = Pointers(self.store(env)).current(env)
        return current.plan_id if current else None

    def running(self, env: str) -> Plan | None:
        pid = self.pointer(env)
        return load_plan(self.store(env), pid) if pid else None

    def backend_dir(self, env: str) -> Path:
        return self.env(env).backend_dir

    def current(self, env: str, label: str) -> str | None:
        """The fingerprint the local backend serves for ``label`` (None: not deployed or retired)."""
        file = self.backend_dir(env) / label.strip("/").replace(":", "/") / "current"
        return file.read_text() if file.exists() else None

    def versions(self, env: str, label: str) -> set[str]:
        folder = self.backend_dir(env) / label.strip("/").replace(":", "/") / "versions"
        return {p.name for p in folder.iterdir()} if folder.is_dir() else set()

    def calls(self, env: str) -> list[str]:
        log = self.backend_dir(env) / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def journal(self, env: str, plan_id: str) -> Journal:
        """The journal of the plan's latest deployment (``journal_for`` names the one a deploy writes)."""
        store = self.store(env)
        plan = load_plan(store, plan_id)
        landing = plan.restores or plan.id
        landed = sum(p.plan_id == landing for p in Pointers(store).history(env))
        for attempt in range(landed, -1, -1):
            journal = Journal(store, env, f"{plan_id}-{attempt}")
            if journal.entries():
                return journal
        return journal_for(store, env, plan)

    def audit(self) -> AuditLog:
        return AuditLog(self.store())


@pytest.fixture(scope="session")
def tested_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release workspace, committed and tested once per session (tests start from copies)."""
    rel = Release(make_workspace(tmp_path_factory.mktemp("template") / "ws"))
    rel.test()
    return rel.root


@pytest.fixture
def new_release(tested_template: Path, tmp_path: Path):
    """``new_release(registry=REGISTRY)``: a fresh copy of the tested workspace, nothing deployed."""

    def make(registry: Registry = REGISTRY, name: str = "ws") -> Release:
        root = tmp_path / name
        shutil.copytree(tested_template, root, symlinks=True)
        return Release(GitWorkspace(root), registry)

    return make


@pytest.fixture
def release(new_release) -> Release:
    """The release workspace, committed and tested, nothing deployed yet."""
    return new_release()
