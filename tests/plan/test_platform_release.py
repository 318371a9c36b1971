"""End to end on the FinSight platform itself, through the CLI: dev -> staging -> prod, a change, a rollback.

Real dbt on DuckDB builds the warehouse versions, the DAG files land in each environment's DAGs folder,
the Avro schemas in its file-backed registry; the audit trail is verified at every step.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL = "dbt/models/marts/payments/fct_payments.sql"
DAG = "dags/dbt/dbt_payments_daily.py"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("platform-release")]


def _copy_platform(root: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        source = REPO / rel
        if source.is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / rel)
    for env in ("staging", "prod"):  # their warehouse is Snowflake (tests/rules/deploy/test_dbt_snowflake.py); DuckDB here
        toml = root / "environments" / f"{env}.toml"
        text = re.sub(r'(?m)^dbt = "snowflake".*$', 'dbt = "local"', toml.read_text())
        toml.write_text(re.sub(r"(?ms)^\[snowflake\]\n.*?(?=^\[|\Z)", "", text))  # no backend reads it now
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "base")
    return root


def _git(root: Path, *args: str) -> str:
    author = ["-c", "user.email=li.wei@finsight.example", "-c", "user.name=Li Wei", "-c", "commit.gpgsign=false"]
    return subprocess.run(["git", *author, *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def graphbuild(root: Path, *args: str, actor: str = "li.wei", expect: int = 0) -> dict | str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GRAPHBUILD_"))}
    env |= {"GRAPHBUILD_ACTOR": actor, "GRAPHBUILD_REMOTE_CACHE": "off"}
    done = subprocess.run([sys.executable, "-m", "graphbuild.cli", "-C", str(root), "--format", "json", *args],
                          capture_output=True, text=True, env=env, timeout=1500)
    assert done.returncode == expect, f"graphbuild {' '.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}"
    try:
        return json.loads(done.stdout)
    except ValueError:
        return done.stdout


def views(root: Path, env: str) -> dict[str, str]:
    """The environment's warehouse views and the physical schema each one reads."""
    with duckdb.connect(str(root / "local" / env / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select model, physical_schema from graphbuild.environment_views where view_schema = 'analytics'"
        ).fetchall()
    return dict(rows)


def count(root: Path, env: str, relation: str) -> int:
    with duckdb.connect(str(root / "local" / env / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(f"select count(*) from {relation}").fetchone()[0]


def audit_ok(root: Path, env: str) -> int:
    report = graphbuild(root, "audit", "verify", "--env", env)
    assert report["ok"], report
    return report["records"]


def test_dev_staging_prod_change_and_rollback(tmp_path: Path) -> None:
    root = _copy_platform(tmp_path / "platform")

    # dev: the first deploy of the whole platform
    deployed = graphbuild(root, "deploy", "--env", "dev")
    assert not deployed["noop"] and all(s["status"] == "applied" for s in deployed["steps"])
    dev_views = views(root, "dev")
    assert len(dev_views) == 45 and count(root, "dev", "analytics.fct_payments") > 0
    dags = sorted(p.name for p in (root / "local/dev/dags").rglob("*.py") if "common" not in p.parts)
    assert len([d for d in dags if d != "__init__.py"]) == 120
    assert len(list((root / "local/dev/registry").iterdir())) == 8
    assert audit_ok(root, "dev") > 0

    # staging promotes what dev runs, once it passed graphbuild test, with one approval
    tested = graphbuild(root, "test", "//...", "--keep-going", expect=0)
    assert tested["failed"] == 0
    plan = graphbuild(root, "plan", "--env", "staging")
    assert plan["env"] == "staging" and plan["previous"] is None and plan["required_approvals"] == 1
    refused = graphbuild(root, "deploy", "--env", "staging", "--plan", plan["id"], expect=2)
    assert "approval" in str(refused)
    graphbuild(root, "approve", plan["id"][:12], "--env", "staging", "--by", "amara.okafor")
    graphbuild(root, "deploy", "--env", "staging", "--plan", plan["id"])
    assert views(root, "staging") == dev_views  # the same versions, built in staging's own warehouse

    # prod: two approvals, never the author's
    prod_plan = graphbuild(root, "plan", "--env", "prod", actor="amara.okafor")
    graphbuild(root, "approve", prod_plan["id"], "--env", "prod", "--by", "amara.okafor", expect=2)  # the author
    graphbuild(root, "approve", prod_plan["id"], "--env", "prod", "--by", "dana.kowalski")
    graphbuild(root, "deploy", "--env", "prod", "--plan", prod_plan["id"], expect=2)  # 1 of 2
    graphbuild(root, "approve", prod_plan["id"], "--env", "prod", "--by", "elena.petrova")
    graphbuild(root, "deploy", "--env", "prod", "--plan", prod_plan["id"])
    first_prod = views(root, "prod")
    assert first_prod == dev_views
    status = graphbuild(root, "status", "--env", "prod")
    assert status["plan"] == prod_plan["id"] and len(status["fingerprints"]) == len(prod_plan["fingerprints"])

    # a change to a dbt model and a DAG, through dev, staging and prod again
    text = (root / MODEL).read_text()
    assert "1900-01-01" in text
    (root / MODEL).write_text(text.replace("1900-01-01", "1970-01-01"))
    dag = (root / DAG).read_text()
    assert "retries=2" in dag
    (root / DAG).write_text(dag.replace("retries=2", "retries=3"))
    _git(root, "commit", "-qam", "payments: floor fct_payments at the epoch; one more retry for its DAG")
    graphbuild(root, "deploy", "--env", "dev")
    graphbuild(root, "test", "//...", "--since", "HEAD~1", "--keep-going")
    change = graphbuild(root, "plan", "--env", "staging")
    changed = {s["label"] for s in change["steps"]}
    assert {"//dbt:fct_payments", "//dags/dbt:dbt_payments_daily"} <= changed
    assert all(s["phase"] in ("transformations", "orchestration") for s in change["steps"])
    phases = [s["phase"] for s in change["steps"]]
    assert phases == sorted(phases, key=("transformations", "orchestration").index)  # models before the DAGs
    graphbuild(root, "approve", change["id"], "--env", "staging", "--by", "li.wei", expect=2)  # li.wei wrote it
    graphbuild(root, "approve", change["id"], "--env", "staging", "--by", "jonas.berg")
    graphbuild(root, "deploy", "--env", "staging", "--plan", change["id"])
    prod_change = graphbuild(root, "plan", "--env", "prod")
    for who in ("samuel.adeyemi", "marcus.hale"):
        graphbuild(root, "approve", prod_change["id"], "--env", "prod", "--by", who)
    graphbuild(root, "deploy", "--env", "prod", "--plan", prod_change["id"])
    second_prod = views(root, "prod")
    assert second_prod["fct_payments"] != first_prod["fct_payments"]
    assert "retries=3" in (root / "local/prod/dags/dbt/dbt_payments_daily.py").read_text()

    # roll prod back: a view swap to the versions still in the warehouse, nothing rebuilt
    rolled = graphbuild(root, "rollback", "--env", "prod", "--confirm")
    assert rolled["kind"] == "rollback"
    assert views(root, "prod") == first_prod
    assert "retries=2" in (root / "local/prod/dags/dbt/dbt_payments_daily.py").read_text()
    assert graphbuild(root, "status", "--env", "prod")["plan"] == prod_plan["id"]
    assert count(root, "prod", "analytics.fct_payments") > 0
    records = audit_ok(root, "prod")
    exported = graphbuild(root, "audit", "export", "--env", "prod", "--format", "json")
    events = [(r["event"], r["result"]) for r in exported]  # the export is JSON: parsed already
    assert len(events) == records
    assert ("approval", "refused") in events and ("rollback", "succeeded") in events
