"""``terraform_module`` on the local backend: the environment's stack checked with the real terraform CLI and recorded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from graphbuild.errors import DeployError, FencingError
from graphbuild.plan.definition import Phase, Reversibility
from graphbuild.testing.handlers import fenced_out
from graphbuild.testing import GitWorkspace
from tests.rules.deploy.steps import platform as shared_platform
from tests.rules.deploy.steps import REPO_ROOT, Store, bind, deploy_context, open_platform, plan_context, run, steps_of

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="the terraform CLI is not on PATH")

STACK = "//terraform/envs/dev:dev"


@pytest.fixture(scope="module")
def platform() -> tuple[Any, Any]:
    return shared_platform()


def test_only_the_environments_stack_gets_a_step(platform: tuple[Any, Any]) -> None:
    session, head = platform
    ctx = plan_context(head, env="dev", variables={"aws_region": "eu-west-1", "not_a_tf_variable": 1})
    stepped = {}
    for label, target in head.graph.targets.items():
        if target.kind == "terraform_module":
            specs = steps_of(session, str(label), ctx)
            if specs:
                stepped[str(label)] = specs
    assert list(stepped) == [STACK]
    (spec,) = stepped[STACK]
    assert (spec.name, spec.phase, spec.reversibility) == ("apply", Phase.INFRASTRUCTURE, Reversibility.FORWARD_ONLY)
    modules = set(spec.request["modules"])
    assert {"terraform/envs/dev", "terraform/modules/platform", "terraform/modules/kms"} <= modules
    assert not any("envs/prod" in m or "envs/staging" in m for m in modules)
    assert "terraform/modules/platform/main.tf" in spec.files
    assert "kafka/topics/payments.transactions.v1/schema.avsc" in spec.files  # read by the Glue registry module
    assert dict(spec.request["variables"]) == {"aws_region": "eu-west-1"}
    assert [s.name for s in steps_of(session, "//terraform/envs/prod:prod", plan_context(head, env="prod"))] == ["apply"]


def test_the_platform_stack_is_recorded_with_its_commands_and_checks(platform: tuple[Any, Any], tmp_path: Path) -> None:
    session, head = platform
    (spec,) = steps_of(session, STACK, plan_context(head, env="dev", variables={"aws_region": "eu-west-1"}))
    store = Store()
    ctx = deploy_context(tmp_path, store)
    step = bind(spec, STACK, "fp1", REPO_ROOT, store)
    summary = run(step, ctx)
    record_path = tmp_path / "terraform" / "dev" / "fp1.json"
    record = json.loads(record_path.read_text())
    assert record["commands"] == [
        "terraform -chdir=terraform/envs/dev init -input=false",
        "terraform -chdir=terraform/envs/dev plan -input=false -out=fp1.tfplan -var=aws_region=eu-west-1",
        "terraform -chdir=terraform/envs/dev apply -input=false fp1.tfplan",
    ]
    assert record["files"] == dict(step.files) and record["status"] == "ready"
    assert all(c["status"] == "passed" for name, c in record["checks"].items() if name.startswith("fmt "))
    validate = record["checks"]["validate"]
    assert validate["status"] in ("passed", "skipped")  # skipped, with the reason, where no provider is on disk
    if validate["status"] == "skipped":
        assert "providers" in validate["summary"] and "validate skipped" in summary
    assert json.loads((tmp_path / "terraform/dev/current.json").read_text())["record"] == "fp1.json"
    stamp = record_path.stat().st_mtime_ns
    run(step, ctx)
    assert record_path.stat().st_mtime_ns == stamp  # idempotent: the same record is not rewritten
    assert sorted(p.name for p in (tmp_path / "tmp").iterdir()) == []  # the scratch tree is gone


# A workspace with no provider at all: terraform init and validate run for real, offline.
_SETTINGS = '[workspace]\nglobal_inputs = []\n'
_MODULE = 'variable "name" {\n  type = string\n}\n\noutput "greeting" {\n  value = "hello ${var.name}"\n}\n'
_STACK = 'module "hello" {\n  source = "../../modules/hello"\n  name   = var.env_name\n}\n\nvariable "env_name" {\n  type = string\n}\n'


def _workspace(root: Path, stack: str = _STACK) -> GitWorkspace:
    workspace = GitWorkspace(root, _SETTINGS)
    workspace.write({
        "terraform/modules/hello/BUILD": "terraform_module()\n",
        "terraform/modules/hello/main.tf": _MODULE,
        "terraform/envs/dev/BUILD": "terraform_module()\n",
        "terraform/envs/dev/main.tf": stack,
    })  # fmt: skip
    workspace.commit("base")
    return workspace


def _deploy(root: Path, backend: Path, fingerprint: str, base_rev: str | None = None) -> tuple[Any, str]:
    with open_platform(root) as session:
        head = session.fingerprinted()
        base = session.fingerprinted(base_rev) if base_rev else None
        (spec,) = steps_of(session, STACK, plan_context(head, env="dev", variables={"env_name": "dev"}, base=base))
    store = Store()
    return spec, run(bind(spec, STACK, fingerprint, root, store), deploy_context(backend, store, root=root))


def test_validate_runs_for_real_when_no_provider_is_needed(tmp_path: Path) -> None:
    _workspace(tmp_path / "ws")
    spec, summary = _deploy(tmp_path / "ws", tmp_path / "env", "good")
    record = json.loads((tmp_path / "env/terraform/dev/good.json").read_text())
    assert record["checks"]["validate"]["status"] == "passed", record["checks"]
    assert set(spec.request["modules"]) == {"terraform/envs/dev", "terraform/modules/hello"}
    assert "-var=env_name=dev" in record["commands"][1]
    assert "validate passed" in summary


def test_an_invalid_stack_fails_the_step_and_keeps_current(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path / "ws")
    _deploy(workspace.root, tmp_path / "env", "good")
    workspace.edit("terraform/envs/dev/main.tf", "var.env_name", "var.undeclared")
    with pytest.raises(DeployError, match="terraform validate"):
        _deploy(workspace.root, tmp_path / "env", "bad")
    assert json.loads((tmp_path / "env/terraform/dev/bad.json").read_text())["status"] == "failed"
    assert json.loads((tmp_path / "env/terraform/dev/current.json").read_text())["fingerprint"] == "good"

    workspace.edit("terraform/envs/dev/main.tf", "var.undeclared", "var.env_name")
    workspace.edit("terraform/envs/dev/main.tf", "  name   = var.env_name", "  name = var.env_name")
    with pytest.raises(DeployError, match="not in canonical format"):
        _deploy(workspace.root, tmp_path / "env", "unformatted")


def test_removing_a_resource_is_irreversible_and_named(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path / "ws", _STACK + '\nresource "terraform_data" "marker" {\n  input = "x"\n}\n')
    base = workspace.git("rev-parse", "HEAD")
    workspace.write({"terraform/envs/dev/main.tf": _STACK})
    with open_platform(workspace.root) as session:
        head = session.fingerprinted()
        (spec,) = steps_of(session, STACK, plan_context(head, env="dev", base=session.fingerprinted(base)))
        (same,) = steps_of(session, STACK, plan_context(head, env="dev", base=head))
    assert spec.reversibility is Reversibility.IRREVERSIBLE
    assert spec.notes == ("destroys resource.terraform_data.marker in terraform/envs/dev",)
    assert same.reversibility is Reversibility.FORWARD_ONLY


def test_retire_records_the_destroy_plan_without_running_it(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path / "ws")
    spec, _ = _deploy(workspace.root, tmp_path / "env", "good")
    store = Store()
    ctx = deploy_context(tmp_path / "env", store, root=workspace.root)
    run(bind(spec, STACK, "good", workspace.root, store, operation="retire"), ctx)
    record = json.loads((tmp_path / "env/terraform/dev/good.destroy.json").read_text())
    assert record["commands"][-1] == "terraform -chdir=terraform/envs/dev destroy -input=false"
    assert not (tmp_path / "env/terraform/dev/current.json").exists()


def test_only_the_local_backend_exists(platform: tuple[Any, Any]) -> None:
    session, head = platform
    with pytest.raises(DeployError, match=r"no deploy backend 'aws' \(it has: local\)"):
        steps_of(session, STACK, plan_context(head, backend="aws"))


def test_a_fenced_out_deploy_does_not_move_current(platform: tuple[Any, Any], tmp_path: Path) -> None:
    """Drill: a deploy whose lease was taken over records its plan but never moves ``current.json``."""
    session, head = platform
    (spec,) = steps_of(session, STACK, plan_context(head, env="dev", variables={"aws_region": "eu-west-1"}))
    store = Store()
    ctx = deploy_context(tmp_path, store)
    run(bind(spec, STACK, "fp1", REPO_ROOT, store), ctx)
    current = tmp_path / "terraform" / "dev" / "current.json"
    before = current.read_bytes()
    with pytest.raises(FencingError):
        run(bind(spec, STACK, "fp2", REPO_ROOT, store), fenced_out(ctx, tmp_path / "state"))
    assert current.read_bytes() == before
