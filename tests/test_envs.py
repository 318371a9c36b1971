"""Environment settings: strict validation with file, line and fix; secret references, never values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
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
    assert env.backend("dbt") == ("local" if name == "dev" else "snowflake") and env.settings.state == "state"
    if name != "dev":  # the warehouse credential is a reference, read by the dbt steps only
        snowflake = env.backend_settings("snowflake")
        assert snowflake["secret"] in env.settings.secrets and snowflake["authenticator"] == "snowflake_jwt"
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
        ('backend_dir = "local/dev"\nstate = "s3://Finsight_State/dev"\n', "state", 2),
        ('backend_dir = "local/dev"\nstate = "s3://finsight-state/dev"\nstate_endpoint = "https://key:secret@s3.example"\n', "state_endpoint", 3),
        ('backend_dir = "s3://finsight-state/dev"\n', "backend_dir", 1),
        ('backend_dir = "local/dev"\n[health]\nmax_row_count_drop = 2\n', "health.max_row_count_drop", 3),
        ('backend_dir = "local/dev"\n[health]\nauto_rolback = true\n', "health.auto_rolback", 3),
    ],
)
def test_bad_settings_name_the_key_the_file_and_the_line(tmp_path, text, key, line):
    write(tmp_path, "dev", text)
    with pytest.raises(ConfigError) as error:
        load_environment(tmp_path, "dev")
    assert error.value.message.startswith(key) and error.value.file == "environments/dev.toml"
    assert error.value.line == line and error.value.fix


def test_the_state_may_be_an_s3_location(tmp_path):
    write(tmp_path, "prod", 'backend_dir = "local/prod"\nstate = "s3://finsight-state/prod"\nstate_region = "eu-west-1"\n')
    env = load_environment(tmp_path, "prod")
    assert env.settings.state == "s3://finsight-state/prod" and env.settings.state_region == "eu-west-1"


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


# literal secrets pasted where a reference belongs are never echoed (item 13)

LITERALS = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=8, max_size=60).filter(
    lambda s: s.strip() == s and not s.startswith(("env:", "secret:"))
)
REFUSAL = "'…(0 chars)' is not a secret reference (fix: write env:VARIABLE or secret:<store>:<path> with a store among aws-sm, e.g. secret:aws-sm:finsight/prod/snowflake)"


@given(LITERALS)
def test_a_literal_secret_is_never_echoed_by_the_reference_error(secret):
    with pytest.raises(ConfigError) as error:
        SecretRef.parse(secret)
    if secret not in REFUSAL:  # a text that is a piece of the fixed wording cannot be told apart from it
        assert secret not in str(error.value) and secret not in repr(error.value.to_dict())
    assert f"({len(secret)} chars)" in error.value.message


@given(LITERALS)
def test_a_literal_secret_in_an_environment_file_is_never_echoed(secret):
    import json
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp), "dev", f'description = "d"\n\n[secrets]\nwarehouse = {json.dumps(secret, ensure_ascii=False)}\n')
        with pytest.raises(ConfigError) as error:
            load_environment(Path(tmp), "dev")
    if secret not in REFUSAL:
        assert secret not in str(error.value), str(error.value)


@settings(max_examples=20, deadline=None)
@given(LITERALS)
def test_a_literal_hmac_key_is_never_echoed_in_the_remote_cache_warning(secret):
    import json
    import tempfile
    from pathlib import Path

    from graphbuild.cache.layered import open_cache
    from graphbuild.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "graphbuild.toml").write_text(
            f'[cache.remote]\nurl = "s3://finsight-cache/ci"\nhmac_key = {json.dumps(secret, ensure_ascii=False)}\n'
        )
        cache = open_cache(Workspace.load(tmp), environ={})
        warnings = cache.stats.warnings
    assert len(warnings) == 1 and "remote cache off" in warnings[0] and "is not a secret reference" in warnings[0]
    if secret not in REFUSAL:
        assert secret not in warnings[0]


# --- the approval policy: read from a commit, never the working tree


def test_environments_are_read_from_the_commit_never_the_working_tree(tmp_path):
    from graphbuild.envs import dirty_environment_files, environment_names, load_policy
    from graphbuild.testing import GitWorkspace

    ws = GitWorkspace(tmp_path / "ws")
    ws.write({"environments/prod.toml": 'production = true\nbackend_dir = "local/prod"\n[approvals]\nrequired = 2\ngroups = ["leads"]\n',
              "environments/groups.toml": '[groups]\nleads = ["dana"]\n'})
    sha = ws.commit("prod")
    ws.edit("environments/prod.toml", "required = 2", "required = 0")
    ws.edit("environments/groups.toml", '["dana"]', '["dana", "mallory"]')
    ws.write({"environments/sneaky.toml": 'backend_dir = "local/sneaky"\n'})

    assert load_environment(ws.root, "prod").settings.approvals.required == 0  # the working tree
    committed = load_environment(ws.root, "prod", revision="HEAD")
    assert committed.settings.approvals.required == 2 and committed.revision == sha  # the commit it was read from
    assert load_groups(ws.root, revision="HEAD") == {"leads": frozenset({"dana"})}
    policy = load_policy(ws.root, "prod", "HEAD")
    assert policy.eligible("mallory", author="li") is not None and policy.eligible("dana", author="li") is None
    assert environment_names(ws.root, revision="HEAD") == ("prod",)
    with pytest.raises(ConfigError, match="no environment 'sneaky' at commit HEAD"):
        load_environment(ws.root, "sneaky", revision="HEAD")
    assert dirty_environment_files(ws.root) == ("environments/groups.toml", "environments/prod.toml", "environments/sneaky.toml")
    with pytest.raises(ConfigError, match="cannot read environments/ at commit deadbeef") as error:
        load_environment(ws.root, "prod", revision="deadbeef")
    assert "fetch that commit" in error.value.fix


_MEMBERS = st.dictionaries(st.sampled_from(["leads", "risk", "platform"]), st.lists(st.sampled_from(["dana", "elena", "mallory"]), unique=True))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 5), st.booleans(), _MEMBERS, st.integers(0, 5), st.booleans(), _MEMBERS)
def test_a_policy_digest_changes_exactly_when_the_policy_does(required, production, members, required2, production2, members2):
    from graphbuild.envs import Policy
    from graphbuild.values import freeze

    def policy(required, production, members):
        groups = tuple(sorted(members))
        return Policy("prod", production, "staging", required, groups, False, freeze({g: sorted(m) for g, m in members.items()}))

    one, two = policy(required, production, members), policy(required2, production2, members2)
    assert Policy.from_json(one.to_json()) == one and Policy.from_json(one.to_json()).digest == one.digest
    assert (one.digest == two.digest) == (one == two)
    assert (two.changes(one) == ()) == (one == two)  # every difference is shown to people


def test_an_environment_names_the_commit_it_was_read_from_even_after_the_ref_moves(tmp_path):
    from graphbuild.testing import GitWorkspace

    ws = GitWorkspace(tmp_path / "ws")
    ws.write({"environments/prod.toml": 'backend_dir = "local/prod"\n[approvals]\nrequired = 2\n'})
    first = ws.commit("two approvals")
    read = load_environment(ws.root, "prod", revision="HEAD")
    ws.edit("environments/prod.toml", "required = 2", "required = 0")
    ws.commit("none")
    assert read.revision == first  # a commit id, never the ref "HEAD" that now names another commit
    again = load_environment(ws.root, read.settings.promote_from or "prod", revision=read.revision)
    assert again.settings.approvals.required == 2 and again.revision == first
    with pytest.raises(ConfigError, match="is not a commit"):
        load_environment(ws.root, "prod", revision="--output=owned")


def test_a_backend_table_is_kept_as_written_for_its_backend_to_validate(tmp_path):
    write(tmp_path, "prod", 'backend_dir = "local/prod"\n[backends]\nrules-a = "some-backend"\n'
                            '[some_backend]\nplace = "s3://b/p"\nretries = 3\n')
    env = load_environment(tmp_path, "prod")  # validated by that backend when a plan is made, not here
    assert dict(env.backend_settings("some-backend")) == {"place": "s3://b/p", "retries": 3}
    assert dict(env.backend_settings("other")) == {}


@pytest.mark.parametrize(("text", "table", "line", "allowed", "hint"), [
    ('[backends]\nrules-a = "some-backend"\n[some_backnd]\nplace = "x"\n', "some_backnd", 4, "allowed here: [some_backend]", "[some_backend]"),
    ('[backends]\nrules-a = "local"\n[some_backend]\nplace = "x"\n', "some_backend", 4, "allowed here: [local]", None),  # no backend reads it
    ('[aprovals]\nrequired = 1\n', "aprovals", 2, "no backend section is allowed", "[approvals]"),
    ('[backend_sections.x]\nplace = "x"\n', "backend_sections", 2, "no backend section is allowed", None),  # the engine's own field is not a table
])
def test_an_unknown_table_is_refused_naming_the_allowed_backend_sections(tmp_path, text, table, line, allowed, hint):
    write(tmp_path, "dev", f'backend_dir = "local/dev"\n{text}')
    with pytest.raises(ConfigError) as error:
        load_environment(tmp_path, "dev")
    message = error.value.message
    assert message.startswith(f"{table}: ") and error.value.file == "environments/dev.toml" and error.value.line == line
    assert allowed in message and error.value.fix
    assert hint is None or f"did you mean {hint}" in message, message