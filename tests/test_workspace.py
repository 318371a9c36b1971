from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic import Field as PydanticField

from graphbuild.cli import main
from graphbuild.errors import ConfigError, WorkspaceError
from graphbuild.rule import Registry, RuleSettings
from graphbuild.testing import FakeRule, GitWorkspace
from graphbuild.workspace import Workspace, parse_settings


def test_defaults_and_values():
    settings = parse_settings("graphbuild.toml", '[workspace]\nignore = ["docs/**"]\n[rules.dbt]\ndialect = "duckdb"\n')
    assert settings.workspace.ignore == ("docs/**",)
    assert settings.cache.dir == "cache"
    assert settings.rule_settings("dbt")["dialect"] == "duckdb"
    assert settings.rule_settings("absent") == {}


def test_unknown_key_names_key_file_and_line():
    with pytest.raises(ConfigError) as info:
        parse_settings("graphbuild.toml", "[workspace]\nignore = []\nglobal_input = ['x']\n")
    error = info.value
    assert "workspace.global_input" in error.message
    assert (error.file, error.line) == ("graphbuild.toml", 3)
    assert error.fix


def test_wrong_type_is_reported():
    with pytest.raises(ConfigError, match="cache.max_size_mb"):
        parse_settings("graphbuild.toml", "[cache]\nmax_size_mb = -1\n")


def test_invalid_toml_has_a_line():
    with pytest.raises(ConfigError) as info:
        parse_settings("graphbuild.toml", "[workspace\n")
    assert info.value.line == 1


def test_find_walks_up_and_fails_clearly(tmp_path):
    (tmp_path / "graphbuild.toml").write_text("")
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert Workspace.find(tmp_path / "a" / "b").root == tmp_path.resolve()
    with pytest.raises(WorkspaceError, match="graphbuild.toml"):
        Workspace.find("/")


# ---------------------------------------------------------------------------------------------------------------
# [rules.<name>] against the settings models the installed rules declare

REGISTRY = Registry.from_entry_points()


def _check(text):
    settings = parse_settings("graphbuild.toml", text)
    REGISTRY.check_settings(settings)
    return settings


@pytest.mark.parametrize(
    ("text", "line", "message", "fix"),
    [
        ('[rules.python]\nsource_roots = [""]\n\n[rules.dbt]\ndialet = "duckdb"\n', 5,
         "[rules.dbt] has no setting 'dialet' (did you mean dialect?)", "dialect, profiles_dir"),
        ('[rules.dbtt]\ndialect = "duckdb"\n', 1, "[rules.dbtt]: no rule or check is named 'dbtt' (did you mean dbt?)", "airflow, dbt"),
        ("[rules.airflow.policy]\nmin_retries = 2\nforbiden_owners = []\n", 3,
         "[rules.airflow.policy] has no setting 'forbiden_owners' (did you mean forbidden_owners", "allowed_owners, forbidden_owners"),
        ('[rules.airflow.helpers]\ndbt_task = { select = 3 }\n', 2, "[rules.airflow.helpers.dbt_task] select:", "docs/configuration.md"),
        ("[rules.spark]\nmaster = 'local[1]'\ntest_timeout_s = -1\n", 3, "[rules.spark] test_timeout_s:", "test_timeout_s"),
        ("[rules.secrets]\nentropy = 4\n", 2, "[rules.secrets] has no setting 'entropy'", "entropy_threshold, exclude"),
    ],
)
def test_a_bad_rule_setting_names_file_line_and_the_allowed_keys(text, line, message, fix):
    with pytest.raises(ConfigError) as info:
        _check(text)
    error = info.value
    assert (error.file, error.line) == ("graphbuild.toml", line)
    assert error.message.startswith(message), error.message
    assert fix in error.fix


def test_every_rules_settings_validate_and_the_repositorys_own_do():
    _check('[rules.dbt]\ndialect = "snowflake"\nthreads = 4\nvars = { with_beta = true }\n[rules.airflow.policy]\nforbidden_owners = ["airflow"]\nallowed_owners = ["payments"]\n')
    REGISTRY.check_settings(Workspace.find(Path(__file__).parent).settings)
    for name, model in REGISTRY.settings_models().items():
        assert model is not None, name
        assert model.model_config["extra"] == "forbid" and model.model_config["frozen"], name
        assert all(field.description for field in model.model_fields.values()), name


def test_a_typo_in_the_workspaces_settings_fails_the_session(mini):
    mini.write({"graphbuild.toml": mini.read("graphbuild.toml") + '\n[rules.dbt]\ndialet = "duckdb"\n'})
    line = mini.read("graphbuild.toml").splitlines().index('dialet = "duckdb"') + 1
    with pytest.raises(ConfigError) as info:
        mini.session(use_cache=False)
    assert (info.value.file, info.value.line) == ("graphbuild.toml", line)
    assert "did you mean dialect?" in str(info.value)


def test_a_base_revisions_settings_today_refuses_are_read_as_written_with_one_warning_naming_it(mini, capsys):
    """``query affected --since`` an old commit answers, though its [rules.dbt] has a key no longer accepted."""
    mini.write({"graphbuild.toml": mini.read("graphbuild.toml") + '\n[rules.dbt]\ndialet = "duckdb"\n'})
    base = mini.commit("typo")
    mini.edit("graphbuild.toml", "dialet", "dialect")
    with mini.session(use_cache=False) as session:
        changes = session.changes(base)
        dbt = {label for label, target in session.graph().targets.items() if target.rule == "dbt"}
        (warning,) = session.warnings
    assert dbt and dbt <= set(changes.affected)  # the settings read by rule dbt differ: the old values were hashed
    assert f"graphbuild.toml at revision {base}" in warning and "has no setting 'dialet'" in warning
    code = main(["-C", str(mini.root), "--no-cache", "query", "affected", "--since", base])
    err = capsys.readouterr().err
    assert code == 0
    assert err.count("warning: ") == 1 and base in err


class _Mode(RuleSettings):
    mode: str = PydanticField(default="a", description="A data setting of yesterday's rule.")


class _Level(RuleSettings):
    level: int = PydanticField(default=1, description="Today's only setting: 'mode' is gone.")


class _Configured(FakeRule):
    settings_read = ()

    def __init__(self, model):
        self.settings_model = model


def test_query_affected_across_a_commit_whose_rule_settings_no_longer_validate(tmp_path):
    repo = GitWorkspace(tmp_path / "ws", '[rules.fake]\nmode = "a"\n')
    repo.write({"a/BUILD": "fake_target()", "a/x.txt": "x", "b/BUILD": "fake_target()", "b/x.txt": "x"})
    old = repo.commit("mode a")
    repo.edit("graphbuild.toml", '"a"', '"b"')
    changed = repo.commit("mode b")
    repo.write({"b/x.txt": "y"})
    same = repo.commit("b only")
    repo.write({"graphbuild.toml": "[rules.fake]\nlevel = 2\n"})
    today = Registry([_Configured(_Level)])
    with pytest.raises(ConfigError, match="has no setting 'mode'"):  # today's rule refuses the old key
        today.check_settings(parse_settings("graphbuild.toml", '[rules.fake]\nmode = "a"\n'))
    with repo.session(today, use_cache=False) as session:
        assert {str(label) for label in session.changes(old, changed).affected} == {"//a:a", "//b:b"}  # still hashed
        assert {str(label) for label in session.changes(changed, same).affected} == {"//b:b"}
        assert {str(label) for label in session.changes(old).affected} == {"//a:a", "//b:b"}
        assert len(session.warnings) == 2  # one per settings text, each naming its first revision
        assert all("has no setting 'mode'" in w for w in session.warnings)
        assert f"revision {old}" in session.warnings[0] and f"revision {changed}" in session.warnings[1]
    repo.write({"graphbuild.toml": '[rules.fake]\nmode = "a"\n'})
    with pytest.raises(ConfigError, match="has no setting 'mode'"):  # the working tree's stay strict
        repo.session(today, use_cache=False)


def test_every_rule_setting_is_documented_with_its_kind():
    """docs/configuration.md lists each key of each settings model: data settings first, then check settings."""
    text = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    data, _, checks = text.partition("### Check settings")
    for name, model in REGISTRY.settings_models().items():
        for key, field in model.model_fields.items():
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            inner = field.annotation if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel) else None
            keys = [f"rules.{name}.{key}.{sub}" for sub in inner.model_fields] if inner else [f"rules.{name}.{key}"]
            for documented in keys:
                assert f"| `{documented}` |" in (checks if extra.get("checks_only") else data), documented
