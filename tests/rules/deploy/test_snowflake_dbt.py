"""dbt-snowflake for real against fakesnow's server over HTTP: dbt build, versioned schemas, view swap, rollback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import snowflake.connector
import yaml
from hypothesis import given
from hypothesis import strategies as st

from graphbuild.errors import DeployError
from graphbuild.testing.snowflake import connect_args
from rules.deploy.snowflake_sql import (
    SnowflakeTarget,
    clone_table_sql,
    identifier,
    pointer_sql,
    profiles_yaml,
    version_schema,
    views_sql,
    write_profiles,
)

PROFILE = "snowmini"
PROJECT = {
    "dbt_project.yml": f"""\
name: snowmini
version: "1.0.0"
profile: {PROFILE}
model-paths: ["models"]
seed-paths: ["seeds"]
""",
    "seeds/currencies.csv": "code,rate\nEUR,11\nUSD,10\n",
    "models/stg_currencies.sql": "{{ config(materialized='view') }}\nselect code, rate from {{ ref('currencies') }}\n",
    "models/fct_rates.sql": (
        "{{ config(materialized='table') }}\n"
        "select code, rate * 10 as rate_cents, 'v1' as version from {{ ref('stg_currencies') }}\n"
    ),
    "models/_models.yml": """\
version: 2
models:
  - name: fct_rates
    columns:
      - name: code
        data_tests: [unique, not_null]
""",
}
RELATIONS = ("currencies", "stg_currencies", "fct_rates")


def write_project(root: Path, version: str) -> Path:
    for name, text in PROJECT.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("'v1'", f"'{version}'"))
    return root


def target_for(url: str, database: str) -> SnowflakeTarget:
    parts = urllib.parse.urlsplit(url)
    return SnowflakeTarget(
        account="fakesnow", user="fake", database=database, warehouse="wh", role="sysadmin",
        password_env="GRAPHBUILD_TEST_SNOWFLAKE_PASSWORD", host=parts.hostname, port=parts.port,
        protocol=parts.scheme, threads=1,
    )


def dbt_build(project: Path, target: SnowflakeTarget, schema: str) -> subprocess.CompletedProcess[str]:
    write_profiles(project, PROFILE, target, schema)
    env = os.environ | {
        target.password_env: "snow",  # fakesnow accepts any password; real ones come from the deploy env
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    dbt = Path(sys.executable).with_name("dbt")
    return subprocess.run(
        [str(dbt), "build", "--project-dir", str(project), "--profiles-dir", str(project), "--no-use-colors"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture
def snowflake_db(snowflake_endpoint: str) -> Iterator[tuple[SnowflakeTarget, object]]:
    """A fresh database on the shared server (its databases are shared by every connection), and a cursor.

    Not dropped afterwards: fakesnow does not parse ``DROP DATABASE``; the server's memory goes with it.
    """
    database = f"GB_{uuid.uuid4().hex[:12].upper()}"
    connection = snowflake.connector.connect(**connect_args(snowflake_endpoint), login_timeout=30)
    cursor = connection.cursor()
    cursor.execute(f"CREATE DATABASE {database}")
    try:
        yield target_for(snowflake_endpoint, database), cursor
    finally:
        connection.close()


def rows(cursor: object, sql: str) -> list[tuple]:
    cursor.execute(sql)  # type: ignore[attr-defined]
    return sorted(cursor.fetchall())  # type: ignore[attr-defined]


def point(cursor: object, target: SnowflakeTarget, version: str) -> None:
    for statement in pointer_sql(target.database, "analytics", version, RELATIONS):
        cursor.execute(statement)  # type: ignore[attr-defined]


def test_dbt_build_then_blue_green_swap_and_rollback_by_pointer(
    snowflake_db: tuple[SnowflakeTarget, object], tmp_path: Path
) -> None:
    target, cursor = snowflake_db
    started = time.monotonic()
    blue, green = version_schema("analytics", "a" * 32), version_schema("analytics", "b" * 32)

    for version, schema in (("v1", blue), ("v2", green)):
        built = dbt_build(write_project(tmp_path / version, version), target, schema)
        assert built.returncode == 0, built.stdout + built.stderr
        # the seed, the view model, the table model and both data tests ran through dbt-snowflake
        assert "Registered adapter: snowflake=" in built.stdout, built.stdout
        assert "PASS=5 WARN=0 ERROR=0 SKIP=0" in built.stdout, built.stdout
    fct = f"SELECT code, rate_cents, version FROM {target.database}.ANALYTICS.FCT_RATES"

    point(cursor, target, blue)
    assert rows(cursor, fct) == [("EUR", 110, "v1"), ("USD", 100, "v1")]
    assert rows(cursor, f"SELECT code FROM {target.database}.ANALYTICS.STG_CURRENCIES") == [("EUR",), ("USD",)]

    point(cursor, target, green)
    assert rows(cursor, fct) == [("EUR", 110, "v2"), ("USD", 100, "v2")]

    point(cursor, target, blue)  # rollback: the first version was kept, only the views move
    assert rows(cursor, fct) == [("EUR", 110, "v1"), ("USD", 100, "v1")]
    pointed = rows(cursor, views_sql(target.database, "analytics"))
    assert [name for name, _ in pointed] == ["CURRENCIES", "FCT_RATES", "STG_CURRENCIES"]
    assert all(blue in definition.upper() and green not in definition.upper() for _, definition in pointed)
    assert time.monotonic() - started < 120


def test_a_cloned_table_keeps_the_rows_it_had_when_cloned(snowflake_db: tuple[SnowflakeTarget, object]) -> None:
    target, cursor = snowflake_db
    for statement in (f"CREATE SCHEMA {target.database}.V1", f"CREATE SCHEMA {target.database}.V2",
                      f"CREATE TABLE {target.database}.V1.FCT AS SELECT 1 AS X"):
        cursor.execute(statement)  # type: ignore[attr-defined]
    cursor.execute(clone_table_sql(target.database, "v1", "v2", "fct"))  # type: ignore[attr-defined]
    cursor.execute(f"INSERT INTO {target.database}.V1.FCT VALUES (2)")  # type: ignore[attr-defined]
    assert rows(cursor, f"SELECT X FROM {target.database}.V2.FCT") == [(1,)]


def test_profiles_yaml_points_dbt_at_the_endpoint_without_the_password() -> None:
    target = target_for("http://127.0.0.1:4567", "gb")
    profile = yaml.safe_load(profiles_yaml(PROFILE, target, "analytics__ab"))
    output = profile[PROFILE]["outputs"]["deploy"]
    assert output | {"password": None} == {
        "type": "snowflake", "account": "fakesnow", "user": "fake", "password": None, "database": "GB",
        "warehouse": "WH", "role": "SYSADMIN", "schema": "ANALYTICS__AB", "threads": 1,
        "host": "127.0.0.1", "port": 4567, "protocol": "http",
    }
    assert output["password"] == "{{ env_var('GRAPHBUILD_TEST_SNOWFLAKE_PASSWORD') }}"
    assert profiles_yaml(PROFILE, target, "analytics__ab") == profiles_yaml(PROFILE, target, "analytics__ab")


@pytest.mark.parametrize(
    "name", ["a; drop database gb", "x.y", '"quoted"', "a b", "", "1abc", "a--b\n", "v'1", "a" * 256]
)
def test_identifiers_that_could_change_the_sql_are_refused(name: str) -> None:
    with pytest.raises(DeployError):
        identifier(name)
    with pytest.raises(DeployError):
        pointer_sql("gb", "analytics", name, ["fct"])


def test_jinja_in_settings_is_refused() -> None:
    evil = SnowflakeTarget(account="{{ env_var('AWS_SECRET_ACCESS_KEY') }}", user="u", database="d",
                           warehouse="w", role="r")
    with pytest.raises(DeployError):
        profiles_yaml(PROFILE, evil, "s")


@given(st.text(max_size=40))
def test_generated_sql_holds_only_plain_identifiers(name: str) -> None:
    try:
        statements = pointer_sql("gb", "analytics", name, [name])
    except DeployError:
        return
    assert all(set(statement) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$.* ") for statement in statements)


def test_a_key_pair_profile_names_the_private_key_by_env_var_only() -> None:
    from dataclasses import replace

    target = replace(target_for("http://127.0.0.1:4567", "gb"), authenticator="snowflake_jwt")
    output = yaml.safe_load(profiles_yaml(PROFILE, target, "analytics"))[PROFILE]["outputs"]["deploy"]
    assert output["authenticator"] == "snowflake_jwt" and "password" not in output
    assert output["private_key"] == "{{ env_var('GRAPHBUILD_TEST_SNOWFLAKE_PASSWORD') }}"
    with pytest.raises(DeployError, match="authenticator"):
        profiles_yaml(PROFILE, replace(target, authenticator="externalbrowser"), "analytics")
