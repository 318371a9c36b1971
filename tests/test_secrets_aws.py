"""Secrets Manager references over moto's server: resolved inside deploy steps, never in plans, logs or audit."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from graphbuild.errors import ConfigError, DeployError
from graphbuild.plan.archive import load_plan
from graphbuild.secrets import SecretRef, resolve
from graphbuild.testing import GitWorkspace
from tests.plan.conftest import ENVIRONMENTS, Release, make_workspace
from graphbuild.rule import Registry
from graphbuild.testing.handlers import fake_deploy
from tests.plan.test_release import SECRETIVE, SECRET_VARIABLE, HandlerRule

VALUE = "-".join(("sm", "made", "up", uuid.uuid4().hex[:10]))  # created in moto's Secrets Manager only


@pytest.fixture
def secrets_manager(s3_endpoint: str, aws_credentials: None, monkeypatch: pytest.MonkeyPatch):
    """boto3's Secrets Manager client on moto's server (AWS_ENDPOINT_URL: the handlers' clients go there too)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.delenv(SECRET_VARIABLE, raising=False)
    return boto3.client("secretsmanager")


def _path() -> str:
    return f"finsight/test/{uuid.uuid4().hex[:12]}"


def test_a_reference_resolves_from_secrets_manager_over_http(secrets_manager) -> None:
    text, binary = _path(), _path()
    secrets_manager.create_secret(Name=text, SecretString=VALUE)
    secrets_manager.create_secret(Name=binary, SecretBinary=VALUE.encode())
    assert resolve(SecretRef.parse(f"secret:aws-sm:{text}")) == VALUE
    assert resolve(SecretRef.parse(f"secret:aws-sm:{binary}")) == VALUE
    secrets_manager.put_secret_value(SecretId=text, SecretString=VALUE + "-rotated")
    assert resolve(SecretRef.parse(f"secret:aws-sm:{text}")) == VALUE + "-rotated", "read when needed, never cached"


def test_a_missing_secret_names_the_reference_and_the_aws_error(secrets_manager) -> None:
    path = _path()
    with pytest.raises(ConfigError) as missing:
        resolve(SecretRef.parse(f"secret:aws-sm:{path}"))
    assert f"secret:aws-sm:{path}" in str(missing.value) and "ResourceNotFoundException" in str(missing.value)


def printing_deploy(step, ctx):
    """A careless handler: prints the secret it resolved to stdout and stderr, then deploys."""
    value = ctx.secret("warehouse")
    print(f"connecting to the warehouse with password={value}")
    print(value, file=sys.stderr)
    return fake_deploy(step, ctx)


PRINTING = Registry([HandlerRule(f"{__name__}:printing_deploy")])


def _aws_release(root: Path, registry: Registry = SECRETIVE) -> tuple[Release, str]:
    """The release workspace of tests/plan with dev reading its warehouse secret from Secrets Manager (committed),
    at a path of its own (moto's server is shared by the session); the release and that path."""
    ws: GitWorkspace = make_workspace(root)
    path = _path()
    dev = ENVIRONMENTS["environments/dev.toml"].replace("finsight/dev/warehouse", path)
    ws.write({"environments/dev.toml": "local_secrets = false\n" + dev})
    ws.commit("dev: secrets from Secrets Manager")
    return Release(ws, registry), path


def test_a_deploy_resolves_the_secret_in_its_steps_and_writes_it_nowhere(secrets_manager, tmp_path: Path) -> None:
    """Drill: a handler reads the warehouse secret from Secrets Manager, prints it in its summary and quotes it in
    its error; the plan, the state store (journal, audit, plans), the summaries and the error show 0 occurrences."""
    release, path = _aws_release(tmp_path / "ws")
    assert release.env("dev").settings.local_secrets is False
    plan = release.plan("dev")  # before the secret exists: a plan never reads one
    assert VALUE not in json.dumps(plan.to_dict()) and path not in json.dumps(plan.to_dict())
    secrets_manager.create_secret(Name=path, SecretString=VALUE)
    summaries: list[str] = []
    with pytest.raises(DeployError) as failed:
        release.deploy(plan, environ={}, on_step=lambda r: summaries.append(r.summary))
    assert "password=********" in str(failed.value) and VALUE not in str(failed.value)
    assert VALUE not in json.dumps(failed.value.to_dict())
    assert summaries[:4] == ["connected with ********"] * 4 and VALUE not in "".join(summaries)
    files = [p for p in release.store().root.rglob("*") if p.is_file()]
    assert any("audit" in p.as_posix() for p in files) and any("journal" in p.as_posix() for p in files)
    leaks = [p for p in (*files, *(p for p in release.backend_dir("dev").rglob("*") if p.is_file()))
             if VALUE.encode() in p.read_bytes()]
    assert leaks == []
    assert VALUE not in json.dumps(load_plan(release.store(), plan.id).to_dict())
    assert release.audit().verify().ok
    chain, error = [], failed.value
    while error is not None:
        chain.append(str(error))
        error = error.__cause__ or error.__context__
    assert not any(VALUE in text for text in chain)


def test_with_local_secrets_off_an_environment_variable_does_not_stand_in(secrets_manager, tmp_path: Path) -> None:
    """Drill: with ``local_secrets = false`` a GRAPHBUILD_SECRET_* variable planted in the deploying process is
    not read; the step fails naming the reference and Secrets Manager's error, never a value."""
    release, path = _aws_release(tmp_path / "ws")
    plan = release.plan("dev")
    with pytest.raises(DeployError) as failed:
        release.deploy(plan, environ={SECRET_VARIABLE: "planted-value-1234"})
    message = str(failed.value)
    assert f"secret:aws-sm:{path}" in message and "ResourceNotFoundException" in message
    assert "planted-value-1234" not in message
    assert release.pointer("dev") is None


def test_a_handler_printing_the_secret_prints_it_masked(secrets_manager, tmp_path: Path, capfd) -> None:
    """Drill: a handler prints the resolved secret to stdout and stderr (the CI log); both show ``********``."""
    release, path = _aws_release(tmp_path / "ws", PRINTING)
    secrets_manager.create_secret(Name=path, SecretString=VALUE)
    result = release.deploy(release.plan("dev"), environ={})
    assert result.applied == 6
    out, err = capfd.readouterr()
    assert "password=********" in out and "********" in err
    assert VALUE not in out and VALUE not in err
