"""State on S3 end to end: plans, approvals' store, lease, journal, pointer and audit in a bucket on
moto's server, so a deploy runs from an ephemeral runner: a fresh clone with no local state.

The backend (here the fake one under ``local/``) is shared by every runner, as a real warehouse is:
each clone reaches runner A's backend folder through a symlink.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from graphbuild.errors import DeployError
from graphbuild.plan.archive import load_plan
from graphbuild.plan.workflow import make_plan
from graphbuild.state import pointer_key
from graphbuild.state.s3 import S3Store
from graphbuild.testing import GitWorkspace
from tests.state.conftest import new_bucket

from .conftest import AUTHOR, Release
from .test_release import DAG, FLAKY, REPORT, STAGED


def _state_on_s3(release: Release, bucket: str, endpoint: str) -> None:
    file = release.root / "environments/dev.toml"
    text = file.read_text().replace('state = "state"', f'state = "s3://{bucket}/finsight"\n'
                                    f'state_endpoint = "{endpoint}"\nstate_region = "us-east-1"')
    release.ws.write({"environments/dev.toml": text})
    release.commit("dev state on S3")


def _runner(release: Release, root: Path) -> Release:
    """A fresh clone of the workspace: what a CI runner checks out, with no state and no cache."""
    subprocess.run(["git", "clone", "--quiet", str(release.root), str(root)], check=True)
    release.backend_dir("dev").parent.mkdir(parents=True, exist_ok=True)
    (root / "local").symlink_to(release.root / "local", target_is_directory=True)  # the shared backend
    return Release(GitWorkspace(root), release.registry)


def test_a_deploy_on_s3_state_resumes_and_then_no_ops_from_fresh_clones(new_release, s3_endpoint, aws_credentials, tmp_path):
    runner_a = new_release(FLAKY)
    bucket = new_bucket(s3_endpoint)
    _state_on_s3(runner_a, bucket, s3_endpoint)
    assert isinstance(runner_a.store("dev"), S3Store)

    v1 = runner_a.plan("dev")
    runner_a.deploy(v1)
    runner_a.edit(STAGED, "staged v2")
    runner_a.commit("staged v2")
    v2 = runner_a.plan("dev")
    (runner_a.backend_dir("dev") / "fail-report").write_text("")
    with pytest.raises(DeployError, match="injected failure"):
        runner_a.deploy(v2)  # runner A dies here as far as the deploy is concerned: its journal is in S3
    assert not (runner_a.root / "state").exists()

    runner_b = _runner(runner_a, tmp_path / "runner-b")
    assert runner_b.pointer("dev") == v1.id  # read from the bucket: the clone has no state folder
    (runner_a.backend_dir("dev") / "fail-report").unlink()
    plan = load_plan(runner_b.store("dev"), v2.id)  # the plan and its files come from S3
    result = runner_b.deploy(plan)
    assert [(r.step.label, r.status) for r in result.steps] == [(STAGED, "done"), (REPORT, "applied"), (DAG, "applied")]
    assert runner_b.pointer("dev") == v2.id
    assert sum(f"{STAGED}#publish" in line for line in runner_a.calls("dev")) == 2  # v1 and v2, once each: resumed

    runner_c = _runner(runner_a, tmp_path / "runner-c")
    with runner_c.ws.session(registry=runner_c.registry) as session:
        assert make_plan(session, "dev", author=AUTHOR).is_empty  # the pointer already runs these fingerprints
    calls = len(runner_a.calls("dev"))
    again = runner_c.deploy(load_plan(runner_c.store("dev"), v2.id))
    assert again.is_noop and again.runs == v2.id and len(runner_a.calls("dev")) == calls
    assert runner_c.audit().verify().ok
    keys = {s.key for s in v2.steps}
    assert runner_c.journal("dev", v2.id).succeeded() == keys
    for runner in (runner_a, runner_b, runner_c):
        assert not (runner.root / "state").exists()
    assert pointer_key("dev") in S3Store(bucket, "finsight", endpoint_url=s3_endpoint).list("envs/dev/")
