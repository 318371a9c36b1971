"""Issue 13's "done means", through the CLI in-process: dev -> staging -> prod -> a change -> a failed
health check -> auto-rollback, with every environment's state in a bucket on moto's S3 server and dbt
on Snowflake (fakesnow's server over HTTP) in staging and prod, with Airflow on MWAA (its DAGs bucket),
Kafka schemas in the Glue Schema Registry and Spark on EMR Serverless, all on moto's server; dev runs
the local backends (DuckDB).

The bad change (``dim_merchants`` loses every row) reaches dev unguarded, fails staging's row-count check
and is rolled back there, audited; then staging's guard is switched off, it reaches staging and prod
catches it: prod rolls back too. The views point at the previous versions again and ``audit verify``
passes. The wall times of the prod deploy and of its auto-rollback are printed, never asserted.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import snowflake.connector

from graphbuild.cli import main
from graphbuild.testing import GitWorkspace
from graphbuild.testing.snowflake import connect_args
from tests.rules.deploy.aws import objects, versioned_bucket
from tests.rules.deploy.test_dbt_snowflake import LAKE, PASSWORD
from tests.state.conftest import new_bucket

MINI = Path(__file__).resolve().parents[1] / "fixtures" / "mini"
DIM = "dbt/models/marts/dim_merchants.sql"
SECRET_VAR = "GB_TEST_SNOWFLAKE_PASSWORD"
ENV = """\
description = "{name}: state on S3{extra_description}."
state = "s3://{bucket}/finsight-{name}"
state_endpoint = "{endpoint}"
state_region = "us-east-1"
backend_dir = "local/{name}"
{promote}
[backends]
dbt = "{dbt}"
airflow = "{airflow}"
kafka = "{kafka}"
spark = "{spark}"

[approvals]
required = 0
author_may_approve = true

[secrets]
warehouse = "env:{secret_var}"

[health]
max_row_count_drop = 0.2
auto_rollback = {auto_rollback}
{snowflake}"""
SNOWFLAKE = """
[snowflake]
account = "fakesnow"
user = "deployer"
role = "transformer"
warehouse = "transforming"
database = "{database}"
schema = "analytics"
secret = "warehouse"
authenticator = "password"
host = "{host}"
port = {port}
protocol = "{protocol}"
unit_tests = false  # fakesnow has no temporary tables (docs/deploy.md)

[mwaa]
dags = "s3://{dags_bucket}/{name}/dags"
region = "us-east-1"

[glue]
registry = "{registry}"
region = "us-east-1"

[emr_serverless]
application = "{application}"
artifacts = "s3://{dags_bucket}/{name}/spark/"
execution_role = "arn:aws:iam::123456789012:role/finsight-spark-jobs"  # moto's account
region = "us-east-1"
"""


def cli(capsys, root: Path, *args: str) -> tuple[int, dict, str]:
    code = main(["-C", str(root), "--format", "json", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip().startswith("{") else {"text": out}, err


def warehouse(cursor: Any) -> str:
    """A fresh Snowflake database holding the lake's source tables."""
    database = f"GB_{uuid.uuid4().hex[:12].upper()}"
    cursor.execute(f"CREATE DATABASE {database}")
    cursor.execute(f"CREATE SCHEMA {database}.LAKE")
    for table, (columns, values) in LAKE.items():
        cursor.execute(f"CREATE TABLE {database}.LAKE.{table} ({columns})")
        cursor.execute(f"INSERT INTO {database}.LAKE.{table} VALUES {values}")
    return database


def environment(name: str, bucket: str, endpoint: str, *, database: str | None = None, snowflake: dict | None = None,
                promote: str | None = None, auto_rollback: bool = True) -> str:
    section = "" if database is None else SNOWFLAKE.format(database=database, name=name, registry=f"{database}-{name}",
                                                           **(snowflake or {}))
    return ENV.format(name=name, bucket=bucket, endpoint=endpoint, dbt="local" if database is None else "snowflake",
                      airflow="local" if database is None else "mwaa", kafka="local" if database is None else "glue",
                      spark="local" if database is None else "emr-serverless",
                      promote=f'promote_from = "{promote}"\n' if promote else "", secret_var=SECRET_VAR,
                      auto_rollback=str(auto_rollback).lower(), snowflake=section,
                      extra_description="" if database is None else ", dbt on Snowflake")


def pointed(cursor: Any, database: str) -> dict[str, str]:
    cursor.execute(f"SELECT model, fingerprint FROM {database}.GRAPHBUILD.ENVIRONMENT_VIEWS")
    return dict(cursor.fetchall())


def count(cursor: Any, database: str, view: str) -> int:
    cursor.execute(f"SELECT COUNT(*) FROM {database}.ANALYTICS.{view}")
    return int(cursor.fetchone()[0])


def run_tests(capsys, root: Path) -> None:
    code, result, err = cli(capsys, root, "test", "//...", "--keep-going")
    assert code == 0 and result["failed"] == 0, (result, err)


def audit_tail(capsys, root: Path, env: str) -> list[tuple[str, str]]:
    code, verified, err = cli(capsys, root, "audit", "verify", "--env", env)
    assert code == 0, (verified, err)
    main(["-C", str(root), "audit", "export", "--env", env, "--format", "json"])
    events = [(r["event"], r["result"]) for r in json.loads(capsys.readouterr().out)]
    start = len(events) - 1 - events[::-1].index(("health", "failed"))
    return [e for e in events[start:] if e != ("step", "applied")]


def rollback_seconds(capsys, root: Path, env: str) -> float:
    import datetime

    main(["-C", str(root), "audit", "export", "--env", env, "--format", "json"])
    records = [r for r in json.loads(capsys.readouterr().out) if r["event"] == "auto-rollback"][-2:]
    started, ended = (datetime.datetime.fromisoformat(r["time"].replace("Z", "+00:00")) for r in records)
    return (ended - started).total_seconds()


ROLLED_BACK = [("health", "failed"), ("auto-rollback", "started"), ("rollback", "started"), ("rollback", "succeeded"),
               ("auto-rollback", "succeeded")]


def test_dev_staging_prod_then_a_bad_change_is_rolled_back_on_s3_state_and_snowflake(
        tmp_path, capsys, monkeypatch, request, s3_endpoint, aws_credentials, snowflake_endpoint):
    monkeypatch.setenv("GRAPHBUILD_ACTOR", "li.wei")
    monkeypatch.setenv("GRAPHBUILD_REMOTE_CACHE", "off")
    monkeypatch.setenv(SECRET_VAR, PASSWORD)
    connection = snowflake.connector.connect(**connect_args(snowflake_endpoint), login_timeout=30)
    cursor = connection.cursor()
    databases = {"staging": warehouse(cursor), "prod": warehouse(cursor)}
    host, port = snowflake_endpoint.split("://")[1].rsplit(":", 1)
    where = {"host": host, "port": int(port.rstrip("/")), "protocol": snowflake_endpoint.split("://")[0]}
    bucket = new_bucket(s3_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)  # MWAA's DAG bucket: moto's server too
    dags_bucket = versioned_bucket()
    where["dags_bucket"] = dags_bucket
    where["application"] = boto3.client("emr-serverless").create_application(
        name=f"finsight-{dags_bucket[-12:]}", releaseLabel="emr-7.5.0", type="SPARK")["applicationId"]
    glue = boto3.client("glue")
    registries = [f"{databases[env]}-{env}" for env in ("staging", "prod")]
    for registry in registries:  # an account has 10 at most (Glue's quota, which moto enforces): deleted at the end
        glue.create_registry(RegistryName=registry)
    request.addfinalizer(lambda: [glue.delete_registry(RegistryId={"RegistryName": r}) for r in registries])

    root = tmp_path / "ws"
    shutil.copytree(MINI, root, ignore=shutil.ignore_patterns("__pycache__", "target", "*.duckdb"))
    settings = (root / "graphbuild.toml").read_text().replace('ignore = ["README.md"]', 'ignore = ["README.md", "environments/**", ".gitignore"]')
    ws = GitWorkspace(root)
    ws.write({
        "graphbuild.toml": settings, ".gitignore": "/local/\n/cache/\n.graphbuild-durations.json\n",
        "environments/dev.toml": environment("dev", bucket, s3_endpoint, auto_rollback=False),
        "environments/staging.toml": environment("staging", bucket, s3_endpoint, database=databases["staging"], snowflake=where,
                                                 promote="dev"),
        "environments/prod.toml": environment("prod", bucket, s3_endpoint, database=databases["prod"], snowflake=where,
                                              promote="staging"),
    })
    ws.commit("environments: state on S3, dbt on Snowflake in staging and prod")

    # dev -> staging -> prod, each healthy
    timings: dict[str, float] = {}
    for env in ("dev", "staging", "prod"):
        if env == "staging":  # promotion needs graphbuild test's verdicts at these fingerprints
            run_tests(capsys, root)
        started = time.perf_counter()
        code, result, err = cli(capsys, root, "deploy", "--env", env)
        timings[f"{env} deploy"] = time.perf_counter() - started
        assert code == 0, (env, result, err)
        assert result["health"]["healthy"] if "health" in result else env == "dev"
    assert not (root / "state").exists()  # every environment's state is in the bucket
    good = {env: pointed(cursor, db) for env, db in databases.items()}
    assert good["staging"] == good["prod"] and good["prod"]["dim_merchants"]
    assert count(cursor, databases["prod"], "DIM_MERCHANTS") == 2
    running = {env: cli(capsys, root, "status", "--env", env)[1]["plan"] for env in ("staging", "prod")}
    good_dags = objects(dags_bucket, "prod/dags/")
    assert any(key.endswith(".py") for key in good_dags), sorted(good_dags)
    schema = glue.get_schema(SchemaId={"RegistryName": registries[1], "SchemaName": "payments.v1-value"})
    assert schema["LatestSchemaVersion"] >= 1  # the topic's Avro schema, registered in Glue
    assert objects(dags_bucket, "prod/spark/")  # the Spark job packages EMR Serverless runs

    # a change that drops every row of dim_merchants: dev takes it (no guard), staging's health fails and rolls back
    ws.edit(DIM, "from {{ ref('stg_merchants') }}", "from {{ ref('stg_merchants') }} where false")
    ws.commit("dim_merchants: where false")
    assert cli(capsys, root, "deploy", "--env", "dev")[0] == 0
    run_tests(capsys, root)  # the change passes graphbuild test (an empty table breaks no unique/not_null test)
    code, result, err = cli(capsys, root, "deploy", "--env", "staging")
    assert code == 1, (result, err)
    failed = [(c["target"], c["check"], c["detail"]) for c in result["health"]["checks"] if c["status"] == "failed"]
    assert [(t, c) for t, c, _ in failed] == [("//dbt:dim_merchants", "row_count")], failed
    assert failed[0][2].startswith("0 rows, was 2")
    assert result["health"]["rolled_back_to"] == running["staging"] == result["runs"]
    assert pointed(cursor, databases["staging"]) == good["staging"]  # the views read the previous versions again
    assert count(cursor, databases["staging"], "DIM_MERCHANTS") == 2
    assert audit_tail(capsys, root, "staging") == ROLLED_BACK

    # staging's guard off: the change reaches staging, and prod's health catches it
    ws.write({"environments/staging.toml": environment("staging", bucket, s3_endpoint, database=databases["staging"],
                                                       snowflake=where, promote="dev", auto_rollback=False)})
    ws.commit("staging: no auto-rollback")
    assert cli(capsys, root, "deploy", "--env", "staging")[0] == 0  # unguarded: no health check after the deploy
    assert cli(capsys, root, "health", "--env", "staging")[0] == 1  # it is unhealthy, and stays
    assert count(cursor, databases["staging"], "DIM_MERCHANTS") == 0
    started = time.perf_counter()
    code, result, err = cli(capsys, root, "deploy", "--env", "prod")
    timings["prod deploy + health + auto-rollback"] = time.perf_counter() - started
    assert code == 1, (result, err)
    assert result["health"]["rolled_back_to"] == running["prod"] == result["runs"]
    assert pointed(cursor, databases["prod"]) == good["prod"]
    assert count(cursor, databases["prod"], "DIM_MERCHANTS") == 2
    assert audit_tail(capsys, root, "prod") == ROLLED_BACK
    assert objects(dags_bucket, "prod/dags/") == good_dags  # MWAA's DAGs folder is the previous version's again
    timings["prod auto-rollback (audit: started -> succeeded)"] = rollback_seconds(capsys, root, "prod")
    steps = {s["step"]: s["duration_s"] for s in result["steps"]}
    code, status, _ = cli(capsys, root, "status", "--env", "prod")
    assert status["plan"] == running["prod"]

    # the restored prod is healthy and shows no drift
    started = time.perf_counter()
    code, health, err = cli(capsys, root, "health", "--env", "prod")
    timings["prod health"] = time.perf_counter() - started
    assert code == 0, (health, err)
    checks = {(c["target"], c["check"]): c for c in health["checks"]}
    assert checks[("//dbt:dim_merchants", "row_count")]["status"] == "passed"
    assert checks[("//dbt:dim_merchants", "row_count")]["metrics"]["row_count"] == 2
    code, drift, err = cli(capsys, root, "drift", "--env", "prod")
    assert code == 0 and drift["drift"] == [], (drift, err)
    print("\nwall times (s):", json.dumps({k: round(v, 2) for k, v in timings.items()}), "prod steps:", json.dumps(steps))
    connection.close()
