"""The snowflake dbt backend with real dbt-snowflake against fakesnow's server over HTTP: build, swap, reuse, rollback."""

from __future__ import annotations

import shutil
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import snowflake.connector

from graphbuild.errors import DeployError, FencingError
from graphbuild.plan.definition import DeployContext, DeployPlanContext, StepSpec
from graphbuild.testing import GitWorkspace
from graphbuild.testing.handlers import fenced_out
from graphbuild.testing.snowflake import connect_args
from graphbuild.values import FrozenDict, freeze, thaw
from rules.dbt import rule
from rules.deploy.dbt_snowflake import apply
from rules.deploy.snowflake_sql import version_schema
from tests.rules.deploy import test_dbt_local as local_case
from tests.rules.deploy.test_dbt_local import dbt_workspace, to_step

MINI = Path(__file__).resolve().parents[2] / "fixtures" / "mini" / "dbt"
STG = "dbt/models/staging/stg_payments.sql"
PASSWORD = "pw-" + "7f3c9a1e5b2d4c6a8e0f"  # fakesnow takes any password; this one is looked for everywhere
SECRET_VAR = "GRAPHBUILD_SECRET_FINSIGHT_TEST_SNOWFLAKE"
LAKE = {
    "MERCHANTS": ("merchant_id VARCHAR, merchant_name VARCHAR, country VARCHAR",
                  "('m1', 'Corner Cafe', 'DE'), ('m2', 'Book Nook', 'US')"),
    "PAYMENTS_CLEAN": ("payment_id VARCHAR, merchant_id VARCHAR, amount_cents INTEGER, currency VARCHAR, created_at TIMESTAMP",
                       "('p1', 'm1', 1250, 'EUR', '2026-01-01 10:00:00'), ('p2', 'm2', 990, 'USD', '2026-01-01 11:00:00')"),
}


@pytest.fixture
def warehouse(snowflake_endpoint: str) -> Iterator[tuple[dict[str, Any], Any]]:
    """A fresh database with the lake's source tables, the ``[snowflake]`` settings for it, and a cursor."""
    database = f"GB_{uuid.uuid4().hex[:12].upper()}"
    connection = snowflake.connector.connect(**connect_args(snowflake_endpoint), login_timeout=30)
    cursor = connection.cursor()
    cursor.execute(f"CREATE DATABASE {database}")
    cursor.execute(f"CREATE SCHEMA {database}.LAKE")
    for table, (columns, values) in LAKE.items():
        cursor.execute(f"CREATE TABLE {database}.LAKE.{table} ({columns})")
        cursor.execute(f"INSERT INTO {database}.LAKE.{table} VALUES {values}")
    parts = urllib.parse.urlsplit(snowflake_endpoint)
    settings = {"account": "fakesnow", "user": "deployer", "role": "transformer", "warehouse": "transforming",
                "database": database, "schema": "analytics", "secret": "warehouse", "authenticator": "password",
                "host": parts.hostname, "port": parts.port, "protocol": parts.scheme,
                "unit_tests": False}  # fakesnow has no temporary tables (docs/deploy.md)
    try:
        yield settings, cursor
    finally:
        connection.close()


def plan(workspace: GitWorkspace, base: str | None, settings: Mapping[str, Any]) -> dict[str, tuple[StepSpec, str]]:
    """label -> (the step spec, the fingerprint) for every dbt target, in dependency order, for dbt = "snowflake"."""
    return local_case.plan(workspace, base, backend="snowflake", settings=settings)[0]


def context(root: Path, backend_dir: Path, fingerprints: Mapping[str, str], blobs: Mapping[str, bytes]) -> DeployContext:
    def secret(name: str) -> str:
        assert name == "warehouse", name
        return PASSWORD

    return DeployContext("staging", root, backend_dir, FrozenDict(), freeze(dict(fingerprints)), blobs.__getitem__, secret)


def deploy(specs: Mapping[str, tuple[StepSpec, str]], root: Path, backend_dir: Path, blobs: dict[str, bytes],
           fingerprints: Mapping[str, str] | None = None) -> dict[str, str]:
    ctx = context(root, backend_dir, fingerprints or {label: fp for label, (_, fp) in specs.items()}, blobs)
    return {label: apply(to_step(label, spec, fp, root, blobs), ctx) for label, (spec, fp) in specs.items()}


@dataclass
class Case:
    """One test's Snowflake database and a git workspace holding the mini dbt project."""

    settings: dict[str, Any]
    cursor: Any
    workspace: GitWorkspace
    backend: Path
    blobs: dict[str, bytes]

    @property
    def db(self) -> str:
        return self.settings["database"]

    def plan(self, base: str | None = None) -> dict[str, tuple[StepSpec, str]]:
        return plan(self.workspace, base, self.settings)

    def deploy(self, specs: Mapping[str, tuple[StepSpec, str]], fingerprints: Mapping[str, str] | None = None) -> dict[str, str]:
        return deploy(specs, self.workspace.root, self.backend, self.blobs, fingerprints)

    def step(self, label: str, spec: StepSpec, fingerprint: str, operation: str = "apply") -> Any:
        return to_step(label, spec, fingerprint, self.workspace.root, self.blobs, operation)


@pytest.fixture
def case(tmp_path: Path, warehouse: tuple[dict[str, Any], Any]) -> Case:
    return Case(warehouse[0], warehouse[1], dbt_workspace(tmp_path / "ws"), tmp_path / "env", {})


def rows(cursor: Any, sql: str) -> list[tuple]:
    cursor.execute(sql)
    return sorted(cursor.fetchall())


def pointed(cursor: Any, database: str) -> dict[str, str]:
    return dict(rows(cursor, f"SELECT model, fingerprint FROM {database}.GRAPHBUILD.ENVIRONMENT_VIEWS"))


def versioned(cursor: Any, database: str) -> set[str]:
    return {r[0] for r in rows(cursor, f"SELECT schema_name FROM {database}.information_schema.schemata")
            if r[0].startswith("ANALYTICS__")}


def views(cursor: Any, database: str) -> set[str]:
    return {r[0] for r in rows(cursor, f"SELECT table_name FROM {database}.information_schema.views WHERE table_schema = 'ANALYTICS'")}


def columns(cursor: Any, database: str, view: str) -> set[str]:
    return {r[0].upper() for r in rows(cursor, f"SELECT column_name FROM {database}.information_schema.columns "
                                               f"WHERE table_schema = 'ANALYTICS' AND table_name = '{view}'")}


def test_plan_step_names_settings_never_the_password(case: Case) -> None:
    specs = case.plan()
    spec, fp = specs["//dbt:fct_payments"]
    assert spec.handler == "rules.deploy.dbt_snowflake:apply"
    assert spec.request["physical_schema"] == version_schema("analytics", fp) == f"ANALYTICS__{fp[:16].upper()}"
    assert spec.request["snowflake"]["secret"] == "warehouse"  # the [secrets] name
    assert PASSWORD not in repr(specs)


def test_deploy_change_noop_and_rollback_by_view_swap(case: Case) -> None:
    db, cursor = case.db, case.cursor
    v1 = case.plan()
    first = case.deploy(v1)
    assert all(s.startswith("built ") for s in first.values()), first
    assert "tests passed" in first["//dbt:fct_payments"]
    assert rows(cursor, f"SELECT payment_id, amount, currency FROM {db}.ANALYTICS.FCT_PAYMENTS") == [
        ("p1", Decimal("12.50"), "EUR"), ("p2", Decimal("9.90"), "USD")]
    assert rows(cursor, f"SELECT day, currency FROM {db}.ANALYTICS.RPT_DAILY_VOLUME")
    assert rows(cursor, f"SELECT merchant_name FROM {db}.ANALYTICS.DIM_MERCHANTS") == [("Book Nook",), ("Corner Cafe",)]
    assert pointed(cursor, db) == {label.split(":")[1]: fp for label, (_, fp) in v1.items()}
    schemas = versioned(cursor, db)

    # the same plan again: nothing built, every view already where it was
    again = case.deploy(v1)
    assert all("already built" in s for s in again.values()), again
    assert versioned(cursor, db) == schemas

    # a change to stg_payments: a new version of it, its readers reuse theirs; only those views move
    case.workspace.edit(STG, "    created_at\n", "    created_at,\n    amount_cents\n")
    case.workspace.commit("add amount_cents")
    v2 = case.plan("HEAD~1")
    changed = {k: v for k, v in v2.items() if v[1] != v1[k][1]}
    assert "//dbt:stg_payments" in changed and "//dbt:dim_merchants" not in changed
    second = case.deploy(changed, {label: fp for label, (_, fp) in v2.items()})
    assert second["//dbt:stg_payments"].startswith("built "), second
    assert all(s.startswith("reused ") for k, s in second.items() if k != "//dbt:stg_payments"), second
    assert rows(cursor, f"SELECT amount_cents FROM {db}.ANALYTICS.STG_PAYMENTS") == [(990,), (1250,)]
    after = pointed(cursor, db)
    assert after["stg_payments"] == v2["//dbt:stg_payments"][1]
    assert after["dim_merchants"] == v1["//dbt:dim_merchants"][1]  # unchanged: its view never moved
    assert rows(cursor, f"SELECT payment_id FROM {db}.ANALYTICS.FCT_PAYMENTS") == [("p1",), ("p2",)]

    # rollback: the earlier versions are still there, re-applying their steps is a view swap
    back = case.deploy({k: v1[k] for k in changed})
    assert all("already built" in s for s in back.values()), back
    assert pointed(cursor, db) == {label.split(":")[1]: fp for label, (_, fp) in v1.items()}
    assert "AMOUNT_CENTS" not in columns(cursor, db, "STG_PAYMENTS")
    assert version_schema("analytics", v2["//dbt:stg_payments"][1]) in versioned(cursor, db)  # kept: roll forward

    # retire drops the view and its row, keeps the versioned schema
    spec, fp = v1["//dbt:rpt_daily_volume"]
    retired = apply(case.step("//dbt:rpt_daily_volume", spec, fp, "retire"), context(case.workspace.root, case.backend, {}, case.blobs))
    assert "retired" in retired
    assert "RPT_DAILY_VOLUME" not in views(cursor, db) and "rpt_daily_volume" not in pointed(cursor, db)
    assert version_schema("analytics", fp) in versioned(cursor, db)


def test_a_fenced_out_deploy_swaps_and_drops_nothing(case: Case, tmp_path: Path) -> None:
    """Drill: a deploy whose lease was taken over neither builds-and-swaps, re-points nor drops a view."""
    db, cursor = case.db, case.cursor
    v1 = case.plan()
    fingerprints = {label: fp for label, (_, fp) in v1.items()}
    stale = fenced_out(context(case.workspace.root, case.backend, fingerprints, case.blobs), tmp_path / "state")
    spec, fp = v1["//dbt:currencies"]
    with pytest.raises(FencingError):  # built, then the swap is refused: no view appears
        apply(case.step("//dbt:currencies", spec, fp), stale)
    assert views(cursor, db) == set()

    case.deploy(v1)
    before = pointed(cursor, db)
    for operation in ("apply", "retire"):
        with pytest.raises(FencingError):
            apply(case.step("//dbt:currencies", spec, fp, operation), stale)
    assert pointed(cursor, db) == before
    assert rows(cursor, f"SELECT code FROM {db}.ANALYTICS.CURRENCIES") == [("EUR",), ("JPY",), ("USD",)]


def test_a_failing_build_keeps_the_view_and_a_log_without_the_password(case: Case) -> None:
    db, cursor = case.db, case.cursor
    v1 = case.plan()
    case.deploy(v1)
    case.workspace.edit(STG, "    created_at\n", "    created_at,\n    no_such_column\n")
    case.workspace.commit("break it")
    v2 = case.plan("HEAD~1")
    spec, fp = v2["//dbt:stg_payments"]
    with pytest.raises(DeployError, match="dbt build of stg_payments failed"):
        case.deploy({"//dbt:stg_payments": (spec, fp)}, {label: f for label, (_, f) in v2.items()})
    schema = version_schema("analytics", fp)
    assert schema not in versioned(cursor, db)
    assert pointed(cursor, db)["stg_payments"] == v1["//dbt:stg_payments"][1]
    log = case.backend / "dbt-logs" / f"{schema}.log"
    assert log.is_file() and "no_such_column" in log.read_text().lower()
    assert [p for p in case.backend.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()] == []


def environment_toml(settings: Mapping[str, Any]) -> str:
    """A staging environment whose dbt backend is snowflake; its password is a secret reference."""
    lines = [f'{k} = {v!r}' if isinstance(v, str) else f"{k} = {str(v).lower() if isinstance(v, bool) else v}"
             for k, v in settings.items()]
    return "\n".join([
        'description = "Staging on Snowflake (fakesnow)."', 'state = "state"', 'backend_dir = "local/staging"',
        "[backends]", 'dbt = "snowflake"', "[approvals]", "required = 0", "author_may_approve = true",
        "[variables]", 'backfill_end = "2026-11-26"',
        "[secrets]", 'warehouse = "secret:aws-sm:finsight/test/snowflake"', "[snowflake]", *lines, "",
    ]).replace("'", '"')


def test_engine_deploy_change_noop_rollback_and_the_password_nowhere(
    tmp_path: Path, warehouse: tuple[dict[str, Any], Any], monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """make_plan and deploy as the CLI runs them: the password is read from its reference inside the steps only."""
    from graphbuild.envs import load_environment
    from graphbuild.plan.builder import build_rollback
    from graphbuild.plan.evaluator import deploy as run_deploy
    from graphbuild.plan.workflow import make_plan, open_store

    settings, cursor = warehouse
    db = settings["database"]
    monkeypatch.setenv(SECRET_VAR, PASSWORD)
    root = tmp_path / "ws"
    shutil.copytree(MINI, root / "dbt")
    workspace = GitWorkspace(root, '[workspace]\nignore = ["environments/**", ".gitignore"]\n')
    workspace.write({".gitignore": "/state/\n/local/\n/cache/\n", "environments/staging.toml": environment_toml(settings)})
    workspace.commit("base")

    def release() -> Any:
        with workspace.session(use_cache=False) as session:
            made = make_plan(session, "staging", author="li.wei")
        env = load_environment(root, "staging")
        if made.is_empty:
            return None
        run_deploy(open_store(env), env, made.plan, actor="ci")
        return made.plan

    first = release()
    assert {s.handler for s in first.steps} == {"rules.deploy.dbt_snowflake:apply"}
    assert rows(cursor, f"SELECT payment_id FROM {db}.ANALYTICS.FCT_PAYMENTS") == [("p1",), ("p2",)]
    assert release() is None  # the environment already runs these versions: an empty plan, nothing deployed

    workspace.edit(STG, "    created_at\n", "    created_at,\n    amount_cents\n")
    workspace.commit("add amount_cents")
    second = release()
    assert "//dbt:stg_payments" in {s.label for s in second.steps}
    assert "//dbt:dim_merchants" not in {s.label for s in second.steps}
    assert pointed(cursor, db)["stg_payments"] == second.fingerprints["//dbt:stg_payments"]

    env = load_environment(root, "staging")
    back = build_rollback(open_store(env), env, author="li.wei")
    run_deploy(open_store(env), env, back, actor="ci")
    assert pointed(cursor, db)["stg_payments"] == first.fingerprints["//dbt:stg_payments"]
    assert ("AMOUNT_CENTS",) not in rows(cursor, f"SELECT column_name FROM {db}.information_schema.columns "
                                                 "WHERE table_schema = 'ANALYTICS' AND table_name = 'STG_PAYMENTS'")

    # the drill: the secret is nowhere in the state store (plans, journal, audit, pointer), the backend
    # folder, the workspace or anything dbt printed
    from rules.deploy.dbt_local import _Project

    deployed = _Project._current.folder  # the plan's project as dbt ran it: profiles.yml, target/ (manifest, run results)
    assert (deployed / "profiles" / "profiles.yml").is_file()
    found = [p for folder in (root, deployed) for p in folder.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert found == []
    printed = capfd.readouterr()
    assert PASSWORD not in printed.out + printed.err
    assert "li.wei" in "".join(p.read_text() for p in (root / "state").rglob("*.jsonl"))  # the audit was searched


def test_key_pair_login_builds_and_swaps_with_the_key_nowhere(case: Case, tmp_path: Path) -> None:
    """authenticator = "snowflake_jwt": the secret is the deploy user's PEM private key (what prod uses)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from rules.deploy.dbt_local import _Project

    case.settings["authenticator"] = "snowflake_jwt"
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    spec, fp = case.plan()["//dbt:currencies"]
    ctx = replace(context(case.workspace.root, case.backend, {"//dbt:currencies": fp}, case.blobs), secret=lambda name: pem)
    assert apply(case.step("//dbt:currencies", spec, fp), ctx).startswith("built ")
    assert rows(case.cursor, f"SELECT code FROM {case.db}.ANALYTICS.CURRENCIES") == [("EUR",), ("JPY",), ("USD",)]
    profile = (_Project._current.folder / "profiles" / "profiles.yml").read_text()
    assert "snowflake_jwt" in profile and "BEGIN" not in profile
    body = pem.splitlines()[1].encode()
    assert [p for p in tmp_path.rglob("*") if p.is_file() and body in p.read_bytes()] == []

    broken = replace(ctx, secret=lambda name: "not a key")
    with pytest.raises(DeployError, match="not an unencrypted PEM private key") as error:
        apply(case.step("//dbt:currencies", spec, fp), broken)
    assert "not a key" not in str(error.value)


@pytest.mark.parametrize("backend", ["snowflake-typo", "aws"])
def test_plan_refuses_a_backend_the_dbt_rule_does_not_have(tmp_path: Path, backend: str) -> None:
    workspace = dbt_workspace(tmp_path / "ws")
    with workspace.session(use_cache=False) as session:
        head = session.fingerprinted()
        target = head.graph.targets[next(label for label in head.graph.order if str(label) == "//dbt:currencies")]
        with pytest.raises(DeployError, match="has no deploy backend") as error:
            list(rule.deploy_steps(target, DeployPlanContext("staging", backend, FrozenDict(), head, None)))
        assert "snowflake" in str(error.value)  # the backends it does have are named
        with pytest.raises(DeployError, match=r"has no \[snowflake\] section"):
            list(rule.deploy_steps(target, DeployPlanContext("staging", "snowflake", FrozenDict(), head, None)))


def _snowflake_settings_text(section: str) -> str:
    base = {"account": "acme-prod", "user": "DEPLOY", "role": "R", "warehouse": "W", "database": "D"}
    lines = {**base, **dict(line.split(" = ", 1) for line in section.splitlines())}
    body = "\n".join(f"{k} = {v}" if v.startswith('"') else f'{k} = "{v}"' for k, v in lines.items())
    return (f'backend_dir = "local/staging"\n[backends]\ndbt = "snowflake"\n'
            f'[secrets]\nwarehouse = "secret:aws-sm:x/y"\n[snowflake]\n{body}\n')


@pytest.mark.parametrize(
    ("section", "key", "line", "complaint"),
    [
        ('secret = "nope"', "snowflake.secret", 12, "names no entry of [secrets] (it takes one of their names: warehouse)"),
        ('secret = "hunter2"', "snowflake.secret", 12, "names no entry of [secrets]"),  # a password pasted in: never echoed
        ('secret = "warehouse"\ndatabase = "gb; drop database prod"', "snowflake.database", 11, "plain identifier"),
        ('secret = "warehouse"\npassword = "hunter2"', "snowflake.password", 13, "Extra inputs"),  # a value pasted in where no key takes it
        ('secret = "warehouse"\nauthenticator = "oauth"', "snowflake.authenticator", 13, "should match pattern"),
    ],
)
def test_snowflake_settings_are_refused_at_plan_time_naming_file_line_key_and_fix(
        tmp_path: Path, section: str, key: str, line: int, complaint: str) -> None:
    from tests.rules.deploy.aws import env_context

    workspace = dbt_workspace(tmp_path / "ws")
    with workspace.session(use_cache=False) as session:
        head = session.fingerprinted()
        target = head.graph.targets[next(label for label in head.graph.order if str(label) == "//dbt:currencies")]
        ctx = env_context(head, tmp_path / "envs", _snowflake_settings_text(section), "dbt", "staging")
        with pytest.raises(DeployError) as refused:
            list(rule.deploy_steps(target, ctx))
    error = refused.value
    assert error.message.startswith(f"{key}: ") and complaint in error.message, error.message
    assert (error.file, error.line) == ("environments/staging.toml", line) and key in error.fix
    assert "hunter2" not in str(error) and "hunter2" not in repr(error.to_dict())


def test_snowflake_settings_that_name_a_secret_reach_the_plan_as_names(tmp_path: Path) -> None:
    from tests.rules.deploy.aws import env_context

    workspace = dbt_workspace(tmp_path / "ws")
    with workspace.session(use_cache=False) as session:
        head = session.fingerprinted()
        target = head.graph.targets[next(label for label in head.graph.order if str(label) == "//dbt:currencies")]
        ctx = env_context(head, tmp_path / "envs", _snowflake_settings_text('secret = "warehouse"'), "dbt", "staging")
        (spec,) = list(rule.deploy_steps(target, ctx))
    settings = dict(spec.request["snowflake"])
    assert (settings["secret"], settings["authenticator"], spec.request["view_schema"]) == ("warehouse", "snowflake_jwt", "analytics")
    assert "secret:aws-sm:x/y" not in str(thaw(spec.request))
