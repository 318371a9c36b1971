"""Snowflake building blocks for a dbt deploy backend: dbt profiles, versioned schemas, the view layer.

Blue/green on Snowflake, as on DuckDB (``dbt_local``): each model version is built by dbt into a
physical schema named by its fingerprint (``ANALYTICS__<fingerprint>``); the schema consumers read
(``ANALYTICS``) holds only views, one per relation, each ``select *`` from one versioned schema.
Deploying or rolling back is re-pointing those views (``CREATE OR REPLACE VIEW``); nothing is
rebuilt and old versions stay until they are dropped.

Snowflake runs every DDL statement in its own transaction, so re-pointing several views is atomic
per view, not across views. Identifiers are unquoted Snowflake identifiers (letters, digits, ``_``,
``$``), checked here and upper-cased as Snowflake resolves them; nothing else reaches the SQL.

>>> version_schema("analytics", "3f2a9c41d07be5aa1234")
'ANALYTICS__3F2A9C41D07BE5AA'
>>> point_view_sql("gb", "analytics", "analytics__3f2a", "fct_payments")
'CREATE OR REPLACE VIEW GB.ANALYTICS.FCT_PAYMENTS AS SELECT * FROM GB.ANALYTICS__3F2A.FCT_PAYMENTS'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from graphbuild.errors import DeployError
from graphbuild.fsutil import atomic_write

__all__ = [
    "SnowflakeTarget",
    "clone_table_sql",
    "identifier",
    "point_view_sql",
    "pointer_sql",
    "profiles_yaml",
    "version_schema",
    "views_sql",
    "write_profiles",
]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_MAX_IDENTIFIER = 255  # Snowflake's limit
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
AUTHENTICATORS = ("password", "snowflake_jwt")
_FINGERPRINT_CHARS = 16  # 64 bits of the fingerprint in a schema name: no collision among kept versions


@dataclass(frozen=True, slots=True)
class SnowflakeTarget:
    """Where and as whom dbt-snowflake connects; the password is named by an environment variable, never held.

    ``host``, ``port`` and ``protocol`` are for endpoints other than ``<account>.snowflakecomputing.com``
    (fakesnow's server in tests: ``127.0.0.1``, its port, ``http``).
    """

    account: str
    user: str
    database: str
    warehouse: str
    role: str
    password_env: str = "SNOWFLAKE_PASSWORD"
    host: str | None = None
    port: int | None = None
    protocol: str | None = None
    threads: int = 4
    authenticator: str = "password"  # or "snowflake_jwt": the variable then holds the private key (PEM)


def identifier(name: str) -> str:
    """``name`` as Snowflake resolves an unquoted identifier (upper case); anything else is refused."""
    if not _IDENTIFIER.fullmatch(name) or len(name) > _MAX_IDENTIFIER:
        raise DeployError(
            f"not a plain Snowflake identifier: {name!r}",
            fix="use letters, digits, '_' and '$', starting with a letter or '_', at most 255 characters",
        )
    return name.upper()


def version_schema(base: str, fingerprint: str) -> str:
    """The physical schema holding one version of ``base``'s relations: ``BASE__<fingerprint prefix>``."""
    return identifier(f"{base}__{fingerprint[:_FINGERPRINT_CHARS]}")


def _qualified(database: str, schema: str, relation: str) -> str:
    return ".".join(identifier(part) for part in (database, schema, relation))


def point_view_sql(database: str, schema: str, version: str, relation: str) -> str:
    """The statement pointing view ``schema.relation`` at ``version.relation`` (creates or re-points it)."""
    view = _qualified(database, schema, relation)
    return f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {_qualified(database, version, relation)}"


def pointer_sql(database: str, schema: str, version: str, relations: Iterable[str]) -> tuple[str, ...]:
    """Every statement that makes ``schema`` show ``version``: the schema if missing, then one view per relation.

    Deploy and rollback are the same statements with another ``version``; they are idempotent.
    """
    ensure = f"CREATE SCHEMA IF NOT EXISTS {identifier(database)}.{identifier(schema)}"
    return (ensure, *(point_view_sql(database, schema, version, name) for name in sorted(set(relations))))


def clone_table_sql(database: str, source: str, target: str, relation: str) -> str:
    """A zero-copy clone of one table into another schema (Snowflake ``CLONE``; fakesnow copies it)."""
    clone = _qualified(database, target, relation)
    return f"CREATE OR REPLACE TABLE {clone} CLONE {_qualified(database, source, relation)}"


def views_sql(database: str, schema: str) -> str:
    """A query listing ``(view name, definition)`` of ``schema``: what each view currently points at."""
    return (
        f"SELECT table_name, view_definition FROM {identifier(database)}.information_schema.views "
        f"WHERE table_schema = '{identifier(schema)}' ORDER BY table_name"
    )


def profiles_yaml(profile: str, target: SnowflakeTarget, schema: str, *, target_name: str = "deploy") -> str:
    """A dbt ``profiles.yml`` building into ``schema`` of ``target`` (deterministic text).

    The password is ``{{ env_var(target.password_env) }}``: dbt reads it when it connects, so the file
    holds no secret and may be written anywhere. dbt renders Jinja in every value of the file, so no
    other value may hold any.
    """
    if not _ENV_NAME.fullmatch(target.password_env):
        raise DeployError(f"not an environment variable name: {target.password_env!r}")
    if target.authenticator not in AUTHENTICATORS:
        raise DeployError(f"unknown Snowflake authenticator {target.authenticator!r}", fix=f"use one of {', '.join(AUTHENTICATORS)}")
    for value in (target.account, target.user, target.host, target.protocol, profile):
        if value is not None and ("{" in value or "}" in value):
            raise DeployError(f"Snowflake settings may not contain Jinja: {value!r}")
    output: dict[str, object] = {
        "type": "snowflake",
        "account": target.account,
        "user": target.user,
        "database": identifier(target.database),
        "warehouse": identifier(target.warehouse),
        "role": identifier(target.role),
        "schema": identifier(schema),
        "threads": target.threads,
    }
    secret = "{{ env_var('%s') }}" % target.password_env
    if target.authenticator == "snowflake_jwt":
        output |= {"authenticator": "snowflake_jwt", "private_key": secret}
    else:
        output["password"] = secret
    output |= {
        key: value
        for key, value in (("host", target.host), ("port", target.port), ("protocol", target.protocol))
        if value is not None
    }
    document = {profile: {"target": target_name, "outputs": {target_name: output}}}
    return yaml.safe_dump(document, sort_keys=True, default_flow_style=False)


def write_profiles(directory: Path, profile: str, target: SnowflakeTarget, schema: str) -> Path:
    """Write ``directory/profiles.yml`` for :func:`profiles_yaml` atomically; return its path."""
    path = directory / "profiles.yml"
    atomic_write(path, profiles_yaml(profile, target, schema))
    return path
