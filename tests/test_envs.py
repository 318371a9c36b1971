"""Environment settings: strict validation with file, line and fix; secret references, never values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphbuild.envs import load_environment, load_groups
from graphbuild.errors import ConfigError
from graphbuild.secrets import Redactor, SecretRef, resolve

REPO_ENVS = ("dev", "staging", "prod")


def write(tmp_path, name, text):
    (tmp_path / "environments").mkdir(exist_ok=True)
    (tmp_path / "environments" / f"{name}.toml").write_text(text)


@pytest.mark.parametrize("name", REPO_ENVS)
def test_the_platform_environments_load(name):
    from pathlib import Path

    env = load_environment(Path(__file__).parents[1], name)
    assert env.backend("dbt") == "local" and env.settings.state == "state"
    if name == "prod":
        assert env.settings.production and not env.settings.approvals.author_may_approve
        assert env.settings.approvals.required == 2 and env.settings.promote_from == "staging"
    groups = load_groups(Path(__file__).parents[1])
    assert all(g in groups for g in env.settings.approvals.groups)


def test_a_production_environment_never_lets_the_author_approve(tmp_path):
    write(tmp_path, "prod", 'production = true\nbackend_dir = "local/prod"\n[approvals]\nrequired = 1\nauthor_may_approve = true\n')
    with pytest.raises(ConfigError) as error:
        load_environment(tmp_path, "prod")
    assert error.value.file == "environments/prod.toml" and "author" in error.value.message


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ('backend_dir = "local/dev"\ncolour = "blue"\n', "colour", 2),
        ('backend_dir = "/var/lib/dev"\n', "backend_dir", 1),
        ('backend_dir = "local/dev"\nstate = "../elsewhere"\n', "state", 2),
        ('backend_dir = "local/dev"\n[approvals]\nrequired = -1\n', "approvals.required", 3),
        ('backend_dir = "local/dev"\nstate = "s3://finsight-state/dev"\n', "state", 2),
    ],
)
def test_bad_settings_name_the_key_the_file_and_the_line(tmp_path, text, key, line):
    write(tmp_path, "dev", text)
    with pytest.raises(ConfigError) as error:
        load_environment(tmp_path, "dev")
    assert error.value.message.startswith(key) and error.value.file == "environments/dev.toml"
    assert error.value.line == line and error.value.fix


def test_a_literal_secret_is_refused_and_never_echoed(tmp_path):
    write(tmp_path, "dev", 'backend_dir = "local/dev"\n[secrets]\nwarehouse = "hunter2-plain-password"\n')
    with pytest.raises(ConfigError) as error:
        load_environment(tmp_path, "dev")
    assert "secret reference" in str(error.value) and error.value.file == "environments/dev.toml"


def test_unknown_environment_lists_the_known_ones(tmp_path):
    write(tmp_path, "dev", 'backend_dir = "local/dev"\n')
    with pytest.raises(ConfigError, match="no environment 'qa'") as error:
        load_environment(tmp_path, "qa")
    assert "dev" in error.value.fix


def test_secrets_resolve_only_from_the_environment_and_errors_name_the_reference(tmp_path):
    write(tmp_path, "dev", 'backend_dir = "local/dev"\n[secrets]\nwarehouse = "secret:aws-sm:finsight/dev/dbt/key"\n')
    env = load_environment(tmp_path, "dev")
    assert env.secret("warehouse", environ={"GRAPHBUILD_SECRET_FINSIGHT_DEV_DBT_KEY": "s3cr3t-value"}) == "s3cr3t-value"
    with pytest.raises(ConfigError) as error:
        env.secret("warehouse", environ={})
    assert "GRAPHBUILD_SECRET_FINSIGHT_DEV_DBT_KEY" in error.value.fix and "s3cr3t" not in str(error.value)
    with pytest.raises(ConfigError, match="no secret named"):
        env.secret("snowflake", environ={})


@given(st.text(min_size=1, max_size=40))
def test_any_text_is_a_reference_or_a_clear_error(text):
    try:
        ref = SecretRef.parse(text)
    except ConfigError as error:
        assert error.fix and "secret:" in error.fix
    else:
        assert str(ref) == text and SecretRef.parse(str(ref)) == ref


@given(st.lists(st.text(alphabet="abcdefghijk0123456789", min_size=4, max_size=12), min_size=1, max_size=4), st.text(max_size=50))
def test_redaction_leaves_no_secret_behind(values, noise):
    text = noise.join(values) + noise
    assert all(v not in Redactor(values).redact(text) for v in values)


def test_env_references_resolve_and_missing_ones_say_how(monkeypatch):
    monkeypatch.setenv("GRAPHBUILD_CACHE_HMAC_KEY", "k" * 32)
    assert resolve(SecretRef.parse("env:GRAPHBUILD_CACHE_HMAC_KEY")) == "k" * 32
    with pytest.raises(ConfigError, match="export NOPE"):
        resolve(SecretRef.parse("env:NOPE"))
