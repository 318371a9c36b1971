import pytest

from graphbuild.errors import ConfigError, WorkspaceError
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
