"""dbt on Snowflake (``[backends] dbt = "snowflake"``): the design of ``dbt_local``, in a Snowflake database.

Each version of a model or seed is built by dbt-snowflake into its own *versioned schema*
(``ANALYTICS__<fingerprint16>``, see ``snowflake_sql.version_schema``) and never changed afterwards;
consumers read views in the environment's view schema (``ANALYTICS.FCT_PAYMENTS``), so a deploy, a
promotion and a rollback are ``CREATE OR REPLACE VIEW`` statements, each inside ``ctx.fenced(step)``.
The database's ``GRAPHBUILD`` schema holds the catalog, as on DuckDB: ``PHYSICAL_VERSIONS`` (a row per
completed version, written only after dbt built it and its tests passed) and ``ENVIRONMENT_VIEWS``
(what each view points at).

The plan holds the ``[snowflake]`` settings (names only); the credential (a PEM private key with
``authenticator = "snowflake_jwt"``, else a password) is read inside the step from the ``[secrets]``
entry ``[snowflake] secret`` names, given to dbt through the environment variable its profile reads
(``DBT_ENV_SECRET_*``: dbt masks such values in its logs) while the build runs, and removed afterwards.
It is never written to a file, a plan, a log or the audit trail.

Snowflake commits every DDL statement on its own: a swap is the view, then its catalog row. A crash
between them leaves the view right and the row stale until the step is applied again (idempotent).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from graphbuild.errors import DeployError
from graphbuild.plan.definition import DeployContext, DeployPlanContext, Step, StepSpec
from graphbuild.values import freeze, thaw
from rules.deploy.dbt_local import (
    _DBT_LOCK,
    _build_node,
    _fingerprint_of,
    _keep_log,
    _physical_mapping,
    _Project,
)
from rules.deploy.local import require_settings
from rules.deploy.snowflake_sql import SnowflakeTarget, identifier, profiles_yaml, version_schema

__all__ = ["HANDLER", "SECRET_ENV", "Snowflake", "apply", "plan_step"]

HANDLER = "rules.deploy.dbt_snowflake:apply"
MONITOR = "rules.deploy.dbt_snowflake_health"  # its health and drift checks (graphbuild.plan.monitor)
CATALOG = "GRAPHBUILD"
SECRET_ENV = "DBT_ENV_SECRET_GRAPHBUILD_SNOWFLAKE"
_SETTINGS = ("account", "user", "role", "warehouse", "database", "secret", "authenticator", "host", "port", "protocol",
             "unit_tests")
_EXAMPLE = "account, user, role, warehouse, database and secret (a [secrets] name)"


class Snowflake(BaseModel):
    """``[snowflake]``: where the ``snowflake`` backend connects; ``secret`` names a ``[secrets]`` entry, never a value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account: str = Field(description="The Snowflake account identifier (<org>-<account>).")
    user: str = Field(description="The deploying user.")
    role: str = Field(description="The role the deploy runs as.")
    warehouse: str = Field(description="The virtual warehouse dbt builds with.")
    database: str = Field(description="The database holding the versioned schemas and the view schema.")
    schema_: str = Field(default="analytics", alias="schema", description="The schema consumers read: views only.")
    secret: str = Field(description="The [secrets] entry holding the password (or the PEM private key with snowflake_jwt), "
                        "resolved inside the step.")
    authenticator: str = Field(default="snowflake_jwt", pattern=r"^(password|snowflake_jwt)$", description="Key-pair or password.")
    host: str | None = Field(default=None, description="Another endpoint than <account>.snowflakecomputing.com (tests).")
    port: int | None = Field(default=None, ge=1, le=65535)
    protocol: str | None = Field(default=None, pattern=r"^https?$")
    unit_tests: bool = Field(default=True, description="Run the model's dbt unit tests in the deploy too (fakesnow cannot).")

    @field_validator("role", "warehouse", "database", "schema_", "secret")
    @classmethod
    def _plain(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]{0,254}", value):
            raise ValueError("must be a plain identifier (letters, digits, '_', '$')")
        return value

    @field_validator("secret")
    @classmethod
    def _named(cls, value: str, info: ValidationInfo) -> str:
        names = (info.context or {}).get("secrets")
        if names is not None and value not in names:  # the names of [secrets], never their values
            known = ", ".join(sorted(names)) or "none"  # never the value: it may be a password pasted in
            raise ValueError(f"names no entry of [secrets] (it takes one of their names: {known})")
        return value


def plan_step(spec: StepSpec, fingerprint: str, ctx: DeployPlanContext) -> StepSpec:
    """``dbt_local``'s step for the same target, built and swapped in Snowflake (``ctx.settings``: ``[snowflake]``)."""
    settings = require_settings(ctx, "snowflake", _EXAMPLE, Snowflake)
    request = dict(thaw(spec.request))
    view_schema = str(settings.get("schema") or "analytics")
    request.update(
        view_schema=view_schema,
        physical_schema=version_schema(view_schema, fingerprint),
        snowflake={k: settings.get(k) for k in _SETTINGS},
    )
    return replace(spec, handler=HANDLER, request=freeze(request))


# --------------------------------------------------------------------------------------------------
# Applying


def apply(step: Step, ctx: DeployContext) -> str:
    """Deploy handler: make the environment's view of one model point at this step's version."""
    request = thaw(step.request)
    name, view_schema = request["node"], request["view_schema"]
    settings = request["snowflake"]
    password = ctx.secret(settings["secret"])
    db = identifier(settings["database"])
    with _connect(settings, password) as cursor:
        if step.operation == "retire":
            with ctx.fenced(step):  # the view goes: a visible switch
                cursor.execute(f"DROP VIEW IF EXISTS {db}.{identifier(view_schema)}.{identifier(name)}")
                cursor.execute(f"DELETE FROM {db}.{CATALOG}.ENVIRONMENT_VIEWS WHERE view_schema = %s AND model = %s",
                               (identifier(view_schema), name))
            return f"retired view {view_schema}.{name} (versioned schemas kept for rollback)"
        schema = version_schema(view_schema, step.fingerprint)
        built = _version(cursor, db, name, step.fingerprint)
        if built is None and request.get("reuse") and (previous := _version(cursor, db, name, request["reuse"])) is not None:
            _reuse(cursor, db, name, step.fingerprint, schema, previous)
            with ctx.fenced(step):  # refused if another deploy took the lease over
                _swap(cursor, db, view_schema, name, step.fingerprint, schema, previous["relation"])
            return f"reused {previous['data']} as {schema}; view {view_schema}.{name} swapped"
        if built is not None:
            with ctx.fenced(step):
                _swap(cursor, db, view_schema, name, step.fingerprint, built["schema"], built["relation"])
            return f"view {view_schema}.{name} -> {built['schema']} (already built)"
        cursor.execute(f"DROP SCHEMA IF EXISTS {db}.{schema} CASCADE")  # what an interrupted build left
        relation, summary = _build(step, ctx, request, settings, password, cursor, schema)
        with ctx.fenced(step):
            _swap(cursor, db, view_schema, name, step.fingerprint, schema, relation)
    return f"built {schema}.{relation} ({summary}); view {view_schema}.{name} swapped"


def _credentials(settings: Mapping[str, Any], secret: str) -> dict[str, Any]:
    """The connector's login arguments: a key pair (the PEM key as DER bytes) or a password."""
    if settings.get("authenticator") != "snowflake_jwt":
        return {"password": secret}
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(secret.encode(), password=None)
    except (ValueError, TypeError):
        raise DeployError("the Snowflake secret is not an unencrypted PEM private key",  # never the value
                          fix="store the deploy user's private key (PKCS#8 PEM) in the secret [snowflake] secret names") from None
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {"authenticator": "SNOWFLAKE_JWT", "private_key": der}


@contextmanager
def _connect(settings: Mapping[str, Any], password: str) -> Iterator[Any]:
    import snowflake.connector

    extra = {k: settings[k] for k in ("host", "port", "protocol") if settings.get(k) is not None}
    connection = snowflake.connector.connect(
        account=settings["account"], user=settings["user"], **_credentials(settings, password), role=settings["role"],
        warehouse=settings["warehouse"], database=settings["database"], login_timeout=60, network_timeout=60,
        session_parameters={"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False}, **extra,
    )  # fmt: skip
    try:
        cursor = connection.cursor()
        db = identifier(settings["database"])
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {db}.{CATALOG}")
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {db}.{CATALOG}.PHYSICAL_VERSIONS (model VARCHAR, fingerprint VARCHAR, "
            "physical_schema VARCHAR, relation VARCHAR, data_relation VARCHAR, built_at TIMESTAMP)"
        )
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {db}.{CATALOG}.ENVIRONMENT_VIEWS (view_schema VARCHAR, model VARCHAR, "
            "fingerprint VARCHAR, physical_schema VARCHAR, swapped_at TIMESTAMP)"
        )
        yield cursor
    finally:
        connection.close()


def _version(cursor: Any, db: str, name: str, fingerprint: str) -> dict[str, str] | None:
    cursor.execute(
        f"SELECT physical_schema, relation, data_relation FROM {db}.{CATALOG}.PHYSICAL_VERSIONS "
        "WHERE model = %s AND fingerprint = %s",
        (name, fingerprint),
    )
    row = cursor.fetchone()
    return None if row is None else {"schema": row[0], "relation": row[1], "data": row[2]}


def _record(cursor: Any, db: str, name: str, fingerprint: str, schema: str, relation: str, data: str) -> None:
    table = f"{db}.{CATALOG}.PHYSICAL_VERSIONS"
    cursor.execute(f"DELETE FROM {table} WHERE model = %s AND fingerprint = %s", (name, fingerprint))
    cursor.execute(f"INSERT INTO {table} SELECT %s, %s, %s, %s, %s, CURRENT_TIMESTAMP()", (name, fingerprint, schema, relation, data))


def _reuse(cursor: Any, db: str, name: str, fingerprint: str, schema: str, previous: Mapping[str, str]) -> None:
    """The new version is a view over the data of the previous one: nothing rebuilt, the row written last."""
    data_schema, _, data_table = previous["data"].partition(".")
    relation = identifier(previous["relation"])
    cursor.execute(f"DROP SCHEMA IF EXISTS {db}.{schema} CASCADE")
    cursor.execute(f"CREATE SCHEMA {db}.{schema}")
    cursor.execute(f"CREATE VIEW {db}.{schema}.{relation} AS SELECT * FROM {db}.{identifier(data_schema)}.{identifier(data_table)}")
    _record(cursor, db, name, fingerprint, schema, previous["relation"], previous["data"])


def _swap(cursor: Any, db: str, view_schema: str, name: str, fingerprint: str, schema: str, relation: str) -> None:
    views = f"{db}.{identifier(view_schema)}"
    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {views}")
    cursor.execute(f"CREATE OR REPLACE VIEW {views}.{identifier(name)} AS SELECT * FROM {db}.{identifier(schema)}.{identifier(relation)}")
    table = f"{db}.{CATALOG}.ENVIRONMENT_VIEWS"
    cursor.execute(f"DELETE FROM {table} WHERE view_schema = %s AND model = %s", (identifier(view_schema), name))
    cursor.execute(f"INSERT INTO {table} SELECT %s, %s, %s, %s, CURRENT_TIMESTAMP()",
                   (identifier(view_schema), name, fingerprint, schema))


# --------------------------------------------------------------------------------------------------
# Building with dbt


def _build(step: Step, ctx: DeployContext, request: Mapping[str, Any], settings: Mapping[str, Any], password: str,
           cursor: Any, schema: str) -> tuple[str, str]:
    name, view_schema, db = request["node"], request["view_schema"], identifier(settings["database"])
    mapping = _physical_mapping(ctx.fingerprints, request["package"], name, step.fingerprint,
                                lambda _node, fingerprint: version_schema(view_schema, fingerprint))
    cursor.execute(f"SELECT model, fingerprint FROM {db}.{CATALOG}.PHYSICAL_VERSIONS")
    built = {tuple(row) for row in cursor.fetchall()}
    deployed = {n for n in mapping if (n, _fingerprint_of(ctx.fingerprints, request["package"], n)) in built}
    target = _target(settings)
    where = f"snowflake:{settings['account']}:{settings.get('host')}:{settings.get('port')}:{db}"

    def profile(project: Path, dest: Path) -> str:
        import yaml

        name_of = (yaml.safe_load((project / "dbt_project.yml").read_text(encoding="utf-8")) or {}).get("profile")
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "profiles.yml").write_text(profiles_yaml(str(name_of), target, view_schema), encoding="utf-8")
        return "deploy"

    with _DBT_LOCK, tempfile.TemporaryDirectory(prefix="gb-dbt-logs-") as logs, _password(password):
        try:
            project = _Project.of(step, ctx, request, where, mapping, profile)
            # unit tests need temporary tables, which fakesnow does not have
            skip = ("--exclude", "resource_type:unit_test") if settings.get("unit_tests") is False else ()
            node, summary = _build_node(project, project.args(mapping, Path(logs)), request, schema, deployed, skip)
            _record(cursor, db, name, step.fingerprint, schema, node.alias, f"{schema}.{node.alias}")
        except BaseException:
            _keep_log(Path(logs) / "dbt.log", ctx.backend_dir, schema)
            cursor.execute(f"DROP SCHEMA IF EXISTS {db}.{schema} CASCADE")
            raise
    return node.alias, summary


def _target(settings: Mapping[str, Any]) -> SnowflakeTarget:
    return SnowflakeTarget(
        account=settings["account"], user=settings["user"], database=settings["database"],
        warehouse=settings["warehouse"], role=settings["role"], password_env=SECRET_ENV,
        host=settings.get("host"), port=settings.get("port"), protocol=settings.get("protocol"), threads=1,
        authenticator=settings.get("authenticator") or "password",
    )  # fmt: skip


@contextmanager
def _password(value: str) -> Iterator[None]:
    """The credential in the variable the profile reads, only while dbt runs (callers hold ``_DBT_LOCK``)."""
    before = os.environ.get(SECRET_ENV)
    os.environ[SECRET_ENV] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(SECRET_ENV, None)
        else:
            os.environ[SECRET_ENV] = before
