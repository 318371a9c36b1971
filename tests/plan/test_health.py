"""Post-deploy health, auto-rollback and drift on the mini workspace, through the CLI in-process.

Real dbt on DuckDB builds the warehouse versions, the DAG files land in the environment's DAGs folder and
Airflow's own DagBag loads them; CloudWatch is moto's server over HTTP. The first deploy is made once per
module and each test starts from a copy of it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import duckdb
import pytest

from graphbuild.cli import main
from graphbuild.testing import GitWorkspace

MINI = Path(__file__).resolve().parents[1] / "fixtures" / "mini"
DIM = "dbt/models/marts/dim_merchants.sql"
DEV = """\
description = "Development, health-guarded."
state = "state"
backend_dir = "local/dev"

[approvals]
required = 0
author_may_approve = true

[health]
auto_rollback = {auto_rollback}
cloudwatch = {cloudwatch}
"""

pytestmark = pytest.mark.xdist_group("health")  # one deployed template per worker


def cli(capsys, root: Path, *args: str) -> tuple[int, dict, str]:
    code = main(["-C", str(root), "--format", "json", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip().startswith("{") else {"text": out}, err


def environment(ws: GitWorkspace, *, auto_rollback: bool = True, cloudwatch: bool = False) -> None:
    ws.write({"environments/dev.toml": DEV.format(auto_rollback=str(auto_rollback).lower(), cloudwatch=str(cloudwatch).lower())})
    ws.commit("environment")


@pytest.fixture(scope="module")
def deployed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mini workspace with a guarded dev environment, deployed once (every target applied, healthy)."""
    root = tmp_path_factory.mktemp("health") / "ws"
    shutil.copytree(MINI, root, ignore=shutil.ignore_patterns("__pycache__", "target", "*.duckdb"))
    settings = (root / "graphbuild.toml").read_text().replace('ignore = ["README.md"]', 'ignore = ["README.md", "environments/**", ".gitignore"]')
    ws = GitWorkspace(root)
    ws.write({"graphbuild.toml": settings, ".gitignore": "/state/\n/local/\n/cache/\n.graphbuild-durations.json\n"})
    environment(ws)
    mp = pytest.MonkeyPatch()
    mp.setenv("GRAPHBUILD_ACTOR", "li.wei")
    mp.setenv("GRAPHBUILD_REMOTE_CACHE", "off")
    try:
        code = main(["-C", str(root), "--format", "json", "deploy", "--env", "dev"])
    finally:
        mp.undo()
    assert code == 0
    return root


@pytest.fixture
def ws(deployed_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> GitWorkspace:
    capsys.readouterr()
    root = tmp_path / "ws"
    shutil.copytree(deployed_template, root, symlinks=True)
    monkeypatch.setenv("GRAPHBUILD_ACTOR", "li.wei")
    monkeypatch.setenv("GRAPHBUILD_REMOTE_CACHE", "off")
    return GitWorkspace(root)


def views(root: Path) -> dict[str, str]:
    with duckdb.connect(str(root / "local/dev/warehouse.duckdb"), read_only=True) as db:
        return dict(db.execute("select model, physical_schema from graphbuild.environment_views").fetchall())


def audit(capsys, root: Path) -> list[dict]:
    code, _, _ = cli(capsys, root, "audit", "verify", "--env", "dev")
    assert code == 0
    main(["-C", str(root), "audit", "export", "--env", "dev", "--format", "json"])
    return json.loads(capsys.readouterr().out)


def test_the_first_deploy_is_healthy_and_shows_no_drift(ws, capsys):
    code, report, err = cli(capsys, ws.root, "health", "--env", "dev")
    assert code == 0, (report, err)
    checks = {(c["target"], c["check"]): c for c in report["checks"]}
    assert checks[("//dbt:dim_merchants", "row_count")]["status"] == "passed"
    assert checks[("//dbt:dim_merchants", "row_count")]["metrics"]["row_count"] == 2
    assert checks[("//dbt:fct_payments", "dbt_test")]["status"] == "passed"  # unique and not_null, run by dbt
    assert checks[("//dags/ops:housekeeping", "dag_import")]["status"] == "passed"
    assert checks[("//dags/ops:housekeeping", "dag_loaded")]["detail"].endswith("housekeeping")
    # the sample data is from January and no max_staleness_hours is set: measured, not passed
    assert checks[("//dbt:fct_payments", "freshness")]["status"] == "skipped"
    assert checks[("//dbt:fct_payments", "freshness")]["metrics"]["staleness_hours"] > 0
    assert report["failed"] == 0 and report["passed"] > 10

    code, drift, _ = cli(capsys, ws.root, "drift", "--env", "dev")
    assert code == 0 and drift["drift"] == [] and drift["checked"] > 10


def test_a_change_that_drops_most_rows_is_rolled_back_and_audited(ws, capsys):
    before = views(ws.root)
    running = cli(capsys, ws.root, "status", "--env", "dev")[1]["plan"]
    ws.edit(DIM, "from {{ ref('stg_merchants') }}", "from {{ ref('stg_merchants') }} where false")
    ws.commit("dim_merchants: where false")
    code, result, err = cli(capsys, ws.root, "deploy", "--env", "dev")
    assert code == 1, err
    health = result["health"]
    assert result["runs"] == running  # the environment's plan after the deploy and its auto-rollback
    failed = [(c["target"], c["check"]) for c in health["checks"] if c["status"] == "failed"]
    assert failed == [("//dbt:dim_merchants", "row_count")]
    assert "0 rows, was 2" in next(c["detail"] for c in health["checks"] if c["status"] == "failed")
    assert health["rolled_back_to"] == running

    assert views(ws.root) == before  # the previous versions are served again
    with duckdb.connect(str(ws.root / "local/dev/warehouse.duckdb"), read_only=True) as db:
        assert db.execute("select count(*) from analytics.dim_merchants").fetchone()[0] == 2
    code, status, _ = cli(capsys, ws.root, "status", "--env", "dev")
    assert status["plan"] == health["rolled_back_to"]

    events = [(r["event"], r["result"]) for r in audit(capsys, ws.root)]
    tail = [e for e in events[events.index(("health", "failed")):] if e != ("step", "applied")]
    assert tail == [("health", "failed"), ("auto-rollback", "started"), ("rollback", "started"), ("rollback", "succeeded"),
                    ("auto-rollback", "succeeded")]
    record = [r for r in audit(capsys, ws.root) if r["event"] == "auto-rollback"][-1]
    details = record["details"] if isinstance(record["details"], dict) else json.loads(record["details"])
    assert any("dim_merchants row_count: 0 rows, was 2" in reason for reason in details["reasons"])

    code, after, _ = cli(capsys, ws.root, "health", "--env", "dev")
    assert code == 0, after
    code, drift, _ = cli(capsys, ws.root, "drift", "--env", "dev")
    assert code == 0 and drift["drift"] == []  # the backends are exactly the restored plan again


def test_a_healthy_change_passes_and_stays(ws, capsys):
    ws.edit(DIM, "country from", "country, upper(country) as country_code from")
    ws.commit("dim_merchants: country_code")
    code, result, err = cli(capsys, ws.root, "deploy", "--env", "dev")
    assert code == 0, err
    assert result["health"]["healthy"] and result["health"]["rolled_back_to"] is None
    code, status, _ = cli(capsys, ws.root, "status", "--env", "dev")
    assert status["plan"] == result["plan"]
    events = [(r["event"], r["result"]) for r in audit(capsys, ws.root)]
    assert events[-1] == ("health", "passed") and ("auto-rollback", "started") not in events


def test_a_dag_with_an_import_error_in_the_deployed_folder_fails_health_and_is_drift(ws, capsys):
    dag = ws.root / "local/dev/dags/ops/housekeeping.py"
    dag.write_text(dag.read_text().replace("from airflow import DAG", "from airflow import DAG\nimport no_such_module_anywhere"))
    code, report, _ = cli(capsys, ws.root, "health", "--env", "dev")
    assert code == 1
    failed = [c for c in report["checks"] if c["status"] == "failed"]
    assert [(c["target"], c["check"]) for c in failed] == [("//dags/ops:housekeeping", "dag_import")]
    assert "no_such_module_anywhere" in failed[0]["detail"]
    code, text, _ = cli(capsys, ws.root, "health", "--env", "dev", "--format", "text")
    assert code == 1 and text["text"].startswith("UNHEALTHY: dev runs plan ")
    assert "  FAILED  //dags/ops:housekeeping dag_import: ops/housekeeping.py: ModuleNotFoundError" in text["text"]

    code, drift, _ = cli(capsys, ws.root, "drift", "--env", "dev")
    assert code == 1
    assert [(d["target"], d["what"]) for d in drift["drift"]] == [("//dags/ops:housekeeping", "dag file")]


def test_drift_finds_a_hand_swapped_view_and_a_stray_dag(ws, capsys):
    with duckdb.connect(str(ws.root / "local/dev/warehouse.duckdb")) as db:
        db.execute("create schema if not exists scratch")
        db.execute("create table scratch.merchants as select * from analytics.dim_merchants limit 1")
        db.execute("create or replace view analytics.dim_merchants as select * from scratch.merchants")
    (ws.root / "local/dev/dags/ops/adhoc.py").write_text("x = 1\n")
    (zip_file,) = (ws.root / "local/dev/artifacts/payments_clean").glob("*.zip")
    zip_file.write_bytes(b"PK replaced by hand")
    (config,) = (ws.root / "local/dev/registry").glob("*/config.json")
    config.write_text(json.dumps({**json.loads(config.read_text()), "deleted": True}))
    code, drift, _ = cli(capsys, ws.root, "drift", "--env", "dev")
    assert code == 1
    found = {(d["target"], d["what"]): d for d in drift["drift"]}
    assert set(found) == {("//dbt:dim_merchants", "view"), ("dags/ops/adhoc.py", "dag file"),
                          ("//spark/jobs/payments_clean:payments_clean", "artifact"), ("//kafka/topics:payments.v1", "subject")}
    assert found[("//dbt:dim_merchants", "view")]["found"] == "analytics.dim_merchants -> scratch.merchants"
    code, text, _ = cli(capsys, ws.root, "drift", "--env", "dev", "--format", "text")
    assert code == 1 and text["text"].startswith("DRIFT: 4 differences")


def test_health_metrics_reach_cloudwatch(ws, capsys, s3_endpoint, aws_credentials, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    environment(ws, auto_rollback=False, cloudwatch=True)
    code, report, err = cli(capsys, ws.root, "health", "--env", "dev")
    assert code == 0, err
    assert report["cloudwatch"] > 0
    client = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=s3_endpoint)
    dims = [{"Name": "env", "Value": "dev"}, {"Name": "target", "Value": "//dbt:dim_merchants"}, {"Name": "check", "Value": "row_count"}]
    listed = client.list_metrics(Namespace="graphbuild", MetricName="row_count", Dimensions=dims)["Metrics"]
    assert len(listed) == 1
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    data = client.get_metric_data(
        MetricDataQueries=[{"Id": "rows", "MetricStat": {"Metric": {"Namespace": "graphbuild", "MetricName": "row_count", "Dimensions": dims},
                                                          "Period": 60, "Stat": "Maximum"}}],
        StartTime=now - datetime.timedelta(minutes=10), EndTime=now + datetime.timedelta(minutes=10),
    )["MetricDataResults"][0]
    assert data["Values"] == [2.0]
    healthy = client.list_metrics(Namespace="graphbuild", MetricName="healthy")["Metrics"]
    assert {d["Value"] for m in healthy for d in m["Dimensions"] if d["Name"] == "check"} >= {"row_count", "dag_import", "dbt_test"}
