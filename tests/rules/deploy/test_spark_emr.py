"""``spark_job`` on EMR Serverless, over moto's server (S3 and EMR Serverless over HTTP on 127.0.0.1)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphbuild.errors import DeployError, FencingError
from graphbuild.plan.definition import Phase, Reversibility
from graphbuild.testing.handlers import fenced_out
from graphbuild.values import freeze, thaw
from rules.checks.spark_package import build_package
from rules.deploy.spark_emr import launcher, location
from tests.rules.deploy.aws import env_context
from tests.rules.deploy.steps import platform as shared_platform
from tests.rules.deploy.steps import REPO_ROOT, Store, bind, deploy_context, plan_context, run, steps_of

BATCH = "//spark/jobs/payments_clean:payments_clean"
STREAMING = "//spark/jobs/payments_stream_ingest:payments_stream_ingest"
ROLE = "arn:aws:iam::123456789012:role/finsight-spark-jobs"  # moto's account: it refuses a cross-account role


@pytest.fixture(scope="module")
def platform() -> tuple[Any, Any]:
    return shared_platform()


@pytest.fixture
def aws(s3_endpoint: str, aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fresh bucket and EMR Serverless application on moto's server; boto3 reaches it through AWS_ENDPOINT_URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    bucket = f"finsight-artifacts-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    emr = boto3.client("emr-serverless")
    app = emr.create_application(name=f"finsight-{bucket[-12:]}", releaseLabel="emr-7.5.0", type="SPARK")["applicationId"]
    settings = {"application": app, "artifacts": f"s3://{bucket}/dev/spark/", "execution_role": ROLE, "region": None}
    return {"s3": s3, "emr": emr, "bucket": bucket, "app": app, "settings": settings}


def _specs(platform: tuple[Any, Any], label: str, settings: dict[str, Any]) -> list[Any]:
    session, head = platform
    ctx = plan_context(head, backend="emr-serverless")
    return steps_of(session, label, replace(ctx, settings=freeze(settings)))


def _object(aws: dict[str, Any], job: str, name: str) -> dict[str, Any]:
    bucket, prefix = location(aws["settings"]["artifacts"], job)
    return aws["s3"].get_object(Bucket=bucket, Key=prefix + name, ChecksumMode="ENABLED")


def _current(aws: dict[str, Any], job: str) -> dict[str, Any]:
    return json.loads(_object(aws, job, "current.json")["Body"].read())


def _keys(aws: dict[str, Any]) -> dict[str, str]:
    """Every object of the bucket -> its ETag and last-modified time: an upload shows as a change."""
    listing = aws["s3"].list_objects_v2(Bucket=aws["bucket"]).get("Contents", [])
    return {o["Key"]: f"{o['ETag']}@{o['LastModified'].isoformat()}" for o in listing}


def _runs(aws: dict[str, Any]) -> dict[str, dict[str, Any]]:
    runs = aws["emr"].list_job_runs(applicationId=aws["app"])["jobRuns"]
    return {r["id"]: aws["emr"].get_job_run(applicationId=aws["app"], jobRunId=r["id"])["jobRun"] for r in runs}


def test_publish_uploads_the_package_checks_zip_by_digest_once(platform: tuple[Any, Any], aws: dict[str, Any], tmp_path: Path) -> None:
    session, head = platform
    (publish,) = _specs(platform, BATCH, aws["settings"])
    assert (publish.name, publish.phase, publish.reversibility) == ("publish", Phase.ARTIFACTS, Reversibility.POINTER)
    assert thaw(publish.request)["emr"] == aws["settings"]
    store = Store()
    ctx = deploy_context(tmp_path, store)
    step = bind(publish, BATCH, "fp-v1", REPO_ROOT, store)
    summary = run(step, ctx)
    expected = build_package(REPO_ROOT, {k: v for k, v in thaw(publish.request).items() if k != "emr"})
    digest = hashlib.sha256(expected).hexdigest()
    assert f"uploaded s3://{aws['bucket']}/dev/spark/payments_clean/{digest}.zip" in summary
    package = _object(aws, "payments_clean", f"{digest}.zip")
    assert package["Body"].read() == expected
    assert package["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(digest)).decode()
    entry = _object(aws, "payments_clean", f"{digest}.py")["Body"].read()
    assert entry == launcher({"job": "payments_clean", "entry_module": "payments_clean.main"})
    assert _current(aws, "payments_clean") == {"job": "payments_clean", "digest": digest, "fingerprint": "fp-v1",
                                               "package": f"s3://{aws['bucket']}/dev/spark/payments_clean/{digest}.zip"}

    before, reads = _keys(aws), store.reads
    again = run(step, ctx)  # a second deploy of the same version
    assert "already published" in again and "already current" in again
    assert _keys(aws) == before, "nothing uploaded or rewritten"
    assert store.reads == reads, "nothing rebuilt"


def test_rollback_repoints_current_without_rebuilding_or_uploading(platform: tuple[Any, Any], aws: dict[str, Any], tmp_path: Path) -> None:
    (publish,) = _specs(platform, BATCH, aws["settings"])
    store = Store()
    ctx = deploy_context(tmp_path, store)
    transforms = "spark/jobs/payments_clean/transforms.py"
    v1 = bind(publish, BATCH, "fp-v1", REPO_ROOT, store)
    v2 = bind(publish, BATCH, "fp-v2", REPO_ROOT, store, overrides={transforms: (REPO_ROOT / transforms).read_bytes() + b"\n# v2\n"})
    run(v1, ctx)
    first = _current(aws, "payments_clean")
    run(v2, ctx)
    second = _current(aws, "payments_clean")
    assert second["digest"] != first["digest"] and second["fingerprint"] == "fp-v2"
    zips = {k for k in _keys(aws) if k.endswith(".zip")}
    assert len(zips) == 2

    before, reads = _keys(aws), store.reads
    assert "already published" in run(v1, ctx)  # the rollback plan re-applies the earlier step
    assert _current(aws, "payments_clean") == first
    assert store.reads == reads, "a rollback reads no file: nothing is rebuilt"
    changed = {k for k, v in _keys(aws).items() if before.get(k) != v}
    assert changed == {"dev/spark/payments_clean/current.json"}


def test_a_streaming_deploy_cancels_the_old_run_and_starts_one_on_the_new_package(
        platform: tuple[Any, Any], aws: dict[str, Any], tmp_path: Path) -> None:
    specs = _specs(platform, STREAMING, aws["settings"])
    assert [s.name for s in specs] == ["publish", "restart"]
    (note,) = specs[1].notes
    assert "goal < 120 s" in note and sum(s.estimate_s for s in specs) < 120
    job = "payments_stream_ingest"
    store = Store()
    ctx = deploy_context(tmp_path, store)
    main = "spark/jobs/payments_stream_ingest/main.py"
    versions = {"v1": {}, "v2": {main: (REPO_ROOT / main).read_bytes() + b"\n# v2\n"}}
    started: list[dict[str, Any]] = []
    for fingerprint in ("v1", "v2", "v1"):  # a first deploy, an upgrade, a rollback
        publish, restart = (bind(s, STREAMING, fingerprint, REPO_ROOT, store, overrides=versions[fingerprint]) for s in specs)
        run(publish, ctx)
        summary = run(restart, ctx)
        record = json.loads(_object(aws, job, "run.json")["Body"].read())
        digest = _current(aws, job)["digest"]
        assert record["digest"] == digest and record["fingerprint"] == fingerprint
        assert f"stop -> start took {record['last_interruption_s']:.3f} s" in summary and "moto" in summary
        assert 0 <= record["last_interruption_s"] < 120
        new = _runs(aws)[record["run_id"]]
        submit = new["jobDriver"]["sparkSubmit"]
        assert submit["entryPoint"] == f"s3://{aws['bucket']}/dev/spark/{job}/{digest}.py"
        assert f"--py-files s3://{aws['bucket']}/dev/spark/{job}/{digest}.zip" in submit["sparkSubmitParameters"]
        assert new["executionRole"] == ROLE and new["name"] == job
        if started:
            assert record["previous_run_id"] == started[-1]["run_id"]
            assert _runs(aws)[started[-1]["run_id"]]["state"] == "CANCELLED"
        assert "already runs" in run(restart, ctx)  # a resumed deploy: the run of this package stays
        started.append(record)
    runs = _runs(aws)
    assert len(runs) == 3 and [runs[r["run_id"]]["state"] == "CANCELLED" for r in started] == [True, True, False]
    assert started[0]["digest"] == started[2]["digest"] != started[1]["digest"]


def test_retire_cancels_the_run_and_removes_current(platform: tuple[Any, Any], aws: dict[str, Any], tmp_path: Path) -> None:
    specs = _specs(platform, STREAMING, aws["settings"])
    store = Store()
    ctx = deploy_context(tmp_path, store)
    for spec in specs:
        run(bind(spec, STREAMING, "v1", REPO_ROOT, store), ctx)
    (run_id,) = _runs(aws)
    for spec in reversed(specs):
        run(bind(spec, STREAMING, "v1", REPO_ROOT, store, operation="retire"), ctx)
    assert _runs(aws)[run_id]["state"] == "CANCELLED"
    assert "dev/spark/payments_stream_ingest/current.json" not in _keys(aws)
    assert any(k.endswith(".zip") for k in _keys(aws)), "the packages stay for a rollback"


def test_a_fenced_out_deploy_changes_neither_current_nor_the_job_runs(
        platform: tuple[Any, Any], aws: dict[str, Any], tmp_path: Path) -> None:
    """Drill: a deploy whose lease was taken over may upload its zip, never move ``current.json`` or touch a run."""
    specs = _specs(platform, STREAMING, aws["settings"])
    store = Store()
    backend = tmp_path / "backend"
    ctx = deploy_context(backend, store)
    for spec in specs:
        run(bind(spec, STREAMING, "v1", REPO_ROOT, store), ctx)
    job = "payments_stream_ingest"
    first, runs = _current(aws, job), _runs(aws)
    main = "spark/jobs/payments_stream_ingest/main.py"
    stale = fenced_out(ctx, tmp_path / "state")
    publish, restart = (bind(s, STREAMING, "v2", REPO_ROOT, store, overrides={main: (REPO_ROOT / main).read_bytes() + b"\n# v2\n"})
                        for s in specs)
    with pytest.raises(FencingError):
        run(publish, stale)
    assert _current(aws, job) == first
    assert "already runs" in run(restart, stale), "nothing to switch: the run of the current package stays"
    run(publish, ctx)  # the live deploy moved current to v2: the stale one's restart would now switch the run
    with pytest.raises(FencingError):
        run(restart, stale)
    assert _runs(aws) == runs, "no run cancelled, none started"


def test_the_application_may_be_named(platform: tuple[Any, Any], aws: dict[str, Any], tmp_path: Path) -> None:
    name = aws["emr"].get_application(applicationId=aws["app"])["application"]["name"]
    specs = _specs(platform, STREAMING, {**aws["settings"], "application": name})
    store = Store()
    ctx = deploy_context(tmp_path, store)
    for spec in specs:
        run(bind(spec, STREAMING, "v1", REPO_ROOT, store), ctx)
    (only,) = _runs(aws).values()
    assert only["applicationId"] == aws["app"]


def test_the_plan_refuses_an_environment_without_emr_settings(platform: tuple[Any, Any]) -> None:
    session, head = platform
    with pytest.raises(DeployError, match=r"no \[emr_serverless\] section") as refused:
        steps_of(session, BATCH, plan_context(head, backend="emr-serverless"))
    assert refused.value.file == "environments/dev.toml"
    with pytest.raises(DeployError, match=r"no deploy backend 'dataproc' \(it has: local, emr-serverless\)"):
        steps_of(session, BATCH, plan_context(head, backend="dataproc"))


# --- the mini fixture's Spark job deployed by the evaluator, environment settings read from environments/dev.toml


def _mini_env(aws: dict[str, Any]) -> str:
    s = aws["settings"]
    return (f'description = "Development on AWS."\nstate = "state"\nbackend_dir = "local/dev"\n\n[backends]\nspark = "emr-serverless"\n\n'
            f'[approvals]\nrequired = 0\nauthor_may_approve = true\n\n[emr_serverless]\napplication = "{s["application"]}"\n'
            f'artifacts = "{s["artifacts"]}"\nexecution_role = "{s["execution_role"]}"\n')


def test_the_mini_fixtures_job_deploys_redeploys_as_a_noop_and_rolls_back(mini: Any, aws: dict[str, Any]) -> None:
    from graphbuild.plan.archive import save_plan
    from graphbuild.plan.builder import build_rollback
    from graphbuild.plan.evaluator import deploy
    from graphbuild.plan.workflow import make_plan, open_store
    from graphbuild.envs import load_environment
    from graphbuild.state import AuditLog

    mini.write({"environments/dev.toml": _mini_env(aws), ".gitignore": "/state/\n/local/\n/cache/\n"})
    mini.commit("dev deploys spark to EMR Serverless")
    env = load_environment(mini.root, "dev")

    def plan_and_deploy() -> Any:
        with mini.session() as session:
            plan = make_plan(session, "dev", author="li.wei").plan
        return plan, deploy(open_store(env), env, plan, actor="ci")

    plan, result = plan_and_deploy()
    spark = [s for s in plan.steps if s.handler.startswith("rules.deploy.spark_emr:")]
    assert any(s.handler.startswith("rules.deploy.dbt_local:") for s in plan.steps), "the other kinds deploy locally beside it"
    assert [s.name for s in spark] == ["publish"] and dict(spark[0].request["emr"]) == aws["settings"] | {"region": None}
    first = _current(aws, "payments_clean")
    assert first["fingerprint"] == spark[0].fingerprint
    uploaded = _keys(aws)

    again, result = plan_and_deploy()  # nothing changed: no step runs, nothing is uploaded
    assert result.is_noop and _keys(aws) == uploaded

    transforms = next(p for p in spark[0].files if p.endswith("transforms.py"))
    mini.write({transforms: (mini.root / transforms).read_text() + "\nVERSION = 2\n"})  # a comment would normalize away
    mini.commit("payments_clean v2")
    _, result = plan_and_deploy()
    second = _current(aws, "payments_clean")
    assert second["digest"] != first["digest"]

    store = open_store(env)
    rollback = build_rollback(store, env, author="oncall")
    save_plan(store, rollback, {})
    deploy(store, env, rollback, actor="oncall")
    assert _current(aws, "payments_clean") == first
    assert AuditLog(store).verify().ok


@pytest.mark.parametrize(("key", "value", "message"), [
    ("artifacts", "https://finsight-artifacts/spark/", "s3://bucket/prefix/"),
    ("artifacts", "s3://Bad_Bucket/spark/", "s3://bucket/prefix/"),
    ("execution_role", "finsight-spark-jobs", "IAM role ARN"),
    ("execution_role", "arn:aws:iam::1234:role/x", "IAM role ARN"),
])
def test_bad_emr_settings_are_refused_at_plan_time_with_file_and_line(
        platform: tuple[Any, Any], tmp_path: Path, key: str, value: str, message: str) -> None:
    session, head = platform
    good = {"application": "finsight-spark", "artifacts": "s3://finsight-artifacts/dev/spark/", "execution_role": ROLE}
    lines = "\n".join(f'{k} = "{value if k == key else v}"' for k, v in good.items())
    text = f'backend_dir = "local/dev"\n[backends]\nspark = "emr-serverless"\n[emr_serverless]\n{lines}\n'
    ctx = env_context(head, tmp_path, text, "spark")  # the file loads: the backend judges its table when planning
    with pytest.raises(DeployError, match=message) as refused:
        steps_of(session, BATCH, ctx)
    error = refused.value
    assert error.file == "environments/dev.toml" and error.line == 5 + list(good).index(key)
    assert error.message.startswith(f"emr_serverless.{key}: ") and f"emr_serverless.{key}" in error.fix


def test_emr_settings_from_the_environment_file_reach_the_plan(platform: tuple[Any, Any], tmp_path: Path) -> None:
    session, head = platform
    text = ('backend_dir = "local/dev"\n[backends]\nspark = "emr-serverless"\n[emr_serverless]\napplication = "finsight-spark"\n'
            f'artifacts = "s3://finsight-artifacts/dev/spark/"\nexecution_role = "{ROLE}"\n')
    (spec,) = steps_of(session, BATCH, env_context(head, tmp_path, text, "spark"))
    assert dict(spec.request["emr"]) == {"application": "finsight-spark", "artifacts": "s3://finsight-artifacts/dev/spark/",
                                         "execution_role": ROLE, "region": None}



@given(st.lists(st.from_regex(r"[a-z0-9_-]{1,8}", fullmatch=True), max_size=3), st.booleans(),
       st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True))
def test_every_job_key_lies_below_the_artifacts_prefix(parts: list[str], slash: bool, job: str) -> None:
    artifacts = "s3://finsight-artifacts/" + "/".join(parts) + ("/" if slash and parts else "")
    bucket, prefix = location(artifacts, job)
    assert bucket == "finsight-artifacts" and prefix.endswith(f"{job}/") and not prefix.startswith("/") and "//" not in prefix
    assert prefix == "/".join([*parts, job]) + "/"
