"""``airflow_dag`` on MWAA: the mini workspace's DAGs synced to an S3 DAGs folder on moto's server, over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graphbuild.errors import DeployError, FencingError
from graphbuild.labels import Label
from graphbuild.plan.definition import Phase, Reversibility
from graphbuild.testing import GitWorkspace
from graphbuild.testing.handlers import fenced_out
from rules.deploy.airflow_mwaa import dags_location
from tests.rules.deploy.aws import aws_calls, aws_context, env_context, glue_registry, object_versions, objects, versioned_bucket, writes
from tests.rules.deploy.steps import Store, bind, deploy_context, plan_context, run, steps_of

DAGS = ("//dags/ops:housekeeping", "//dags/payments:merchants_weekly", "//dags/payments:payments_daily")
HELPERS = {"common/__init__.py", "common/dbt.py", "common/sensors.py", "common/spark.py"}


@pytest.fixture
def aws(s3_endpoint: str, aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    return versioned_bucket()


@pytest.fixture
def registry(aws: str) -> Iterator[str]:
    with glue_registry() as name:
        yield name


class Mini:
    """The mini workspace planned for an MWAA environment whose DAGs folder is ``s3://<bucket>/dags``."""

    def __init__(self, ws: GitWorkspace, bucket: str, **mwaa: str) -> None:
        self.ws, self.bucket, self.store = ws, bucket, Store()
        self.mwaa = {"dags": f"s3://{bucket}/dags", "requirements_key": "requirements.txt", "plugins_key": "plugins.zip",
                     **mwaa}

    def specs(self) -> dict[str, Any]:
        with self.ws.session(use_cache=False) as session:
            head = session.fingerprinted()
            ctx = aws_context(head, "mwaa", self.mwaa)
            return {label: steps_of(session, label, ctx)[0] for label in DAGS if Label.parse(label) in head.graph.targets}

    def steps(self, version: str, operation: str = "apply") -> dict[str, Any]:
        return {label: bind(spec, label, f"{version}-{label}", self.ws.root, self.store, operation=operation)
                for label, spec in self.specs().items()}

    def ctx(self, tmp_path: Path) -> Any:
        return deploy_context(tmp_path / "backend", self.store)

    def dags(self) -> dict[str, bytes]:
        return objects(self.bucket, "dags/")

    def manifests(self) -> dict[str, Any]:
        _, _, prefix = dags_location(self.mwaa["dags"])
        return {key: json.loads(data) for key, data in objects(self.bucket, prefix).items()}


def _expected(env: Mini, dags: tuple[str, ...] = DAGS) -> dict[str, bytes]:
    """What the DAGs folder holds with ``dags`` deployed: each one's files at their place in the local layout."""
    specs = env.specs()
    layout = {dest: path for label in dags for path, dest in dict(specs[label].request["layout"]).items()}
    return {dest: (env.ws.root / path).read_bytes() for dest, path in sorted(layout.items())}


def test_the_mwaa_step_is_the_local_layout_plus_the_dags_location(mini: GitWorkspace) -> None:
    with mini.session(use_cache=False) as session:
        head = session.fingerprinted()
        settings = {"dags": "s3://finsight-mwaa-dev/dags", "requirements_key": "requirements.txt", "plugins_key": "plugins.zip"}
        (spec,) = steps_of(session, DAGS[2], aws_context(head, "mwaa", settings))
        (local,) = steps_of(session, DAGS[2], plan_context(head))
    assert (spec.name, spec.phase, spec.reversibility) == ("sync", Phase.ORCHESTRATION, Reversibility.POINTER)
    assert spec.handler == "rules.deploy.airflow_mwaa:sync"
    assert spec.request["layout"] == local.request["layout"] and spec.files == local.files
    assert dict(spec.request["mwaa"])["dags"] == "s3://finsight-mwaa-dev/dags"
    assert dict(spec.request["layout"])["dags/common/dbt.py"] == "common/dbt.py"


def test_an_mwaa_environment_without_its_section_is_refused_at_plan_time(mini: GitWorkspace) -> None:
    with mini.session(use_cache=False) as session, pytest.raises(DeployError, match=r"uses the mwaa backend but has no \[mwaa\] section"):
        steps_of(session, DAGS[0], aws_context(session.fingerprinted(), "mwaa", {}))


def test_mwaa_settings_are_read_from_the_environment_file_with_their_defaults(mini: GitWorkspace, tmp_path: Path) -> None:
    text = ('backend_dir = "local/prod"\n[backends]\nairflow = "mwaa"\n'
            '[mwaa]\ndags = "s3://finsight-mwaa-prod/dags"\nenvironment = "finsight-prod"\n')
    with mini.session(use_cache=False) as session:
        (spec,) = steps_of(session, DAGS[2], env_context(session.fingerprinted(), tmp_path, text, "airflow", "prod"))
    mwaa = dict(spec.request["mwaa"])
    assert (mwaa["dags"], mwaa["requirements_key"], mwaa["requirements"]) == ("s3://finsight-mwaa-prod/dags", "requirements.txt", None)


@pytest.mark.parametrize(("section", "key", "line", "complaint"), [
    ('dags = "s3://finsight-mwaa-prod"', "mwaa.dags", 5, "prefix"),  # MWAA reads DAGs under a prefix, never a bucket's root
    ('dags = "/mnt/dags"', "mwaa.dags", 5, "s3://bucket/prefix"),
    ('dags = "s3://finsight-mwaa-dev/dags"\nrequirement = "requirements.txt"', "mwaa.requirement", 6, "Extra inputs"),
])
def test_bad_mwaa_settings_are_refused_at_plan_time_with_file_line_key_and_fix(
        mini: GitWorkspace, tmp_path: Path, section: str, key: str, line: int, complaint: str) -> None:
    text = f'backend_dir = "local/dev"\n[backends]\nairflow = "mwaa"\n[mwaa]\n{section}\n'
    with mini.session(use_cache=False) as session:
        ctx = env_context(session.fingerprinted(), tmp_path, text, "airflow")  # the file loads: the backend judges its table
        with pytest.raises(DeployError) as refused:
            steps_of(session, DAGS[2], ctx)
    error = refused.value
    assert error.message.startswith(f"{key}: ") and complaint in error.message, error.message
    assert (error.file, error.line) == ("environments/dev.toml", line) and key in error.fix and "dags" in error.fix


def test_the_dags_land_in_s3_and_a_second_deploy_puts_nothing(mini: GitWorkspace, aws: str, tmp_path: Path) -> None:
    env = Mini(mini, aws)
    ctx = env.ctx(tmp_path)
    with aws_calls() as calls:
        for step in env.steps("v1").values():
            run(step, ctx)
    assert env.dags() == _expected(env)
    assert HELPERS <= set(env.dags())
    manifests = env.manifests()
    assert sorted(manifests) == ["ops/housekeeping.py.json", "payments/merchants_weekly.py.json", "payments/payments_daily.py.json"]
    daily = manifests["payments/payments_daily.py.json"]["files"]
    assert {"common/dbt.py", "common/spark.py", "common/sensors.py", "payments/payments_daily.py"} <= set(daily)
    puts = [key for op, key in writes(calls) if op == "PutObject" and key.startswith("dags/")]
    assert len(puts) == len(set(puts)) == len(_expected(env)), "each object written once, shared helpers too"
    first = dict.fromkeys(k for k in puts)
    assert list(first).index("dags/payments/payments_daily.py") > list(first).index("dags/common/spark.py")

    versions = object_versions(aws)
    with aws_calls() as calls:
        outcomes = [run(step, ctx) for step in env.steps("v1").values()]
    assert writes(calls) == [], "nothing differs: no PutObject, no DeleteObject"
    assert object_versions(aws) == versions
    assert all(outcome.endswith("(unchanged)") for outcome in outcomes), outcomes


def test_helpers_go_first_the_dag_file_last_and_stale_files_after_the_new_set(mini: GitWorkspace, aws: str, tmp_path: Path) -> None:
    env = Mini(mini, aws)
    ctx = env.ctx(tmp_path)
    for step in env.steps("v1").values():
        run(step, ctx)
    # v2: payments_daily moves from common/dbt.py to a new helper, common/marts.py; its own file changes too
    daily = (mini.root / "dags/payments/payments_daily.py").read_text()
    mini.write({
        "dags/common/marts.py": (mini.root / "dags/common/dbt.py").read_text(),
        "dags/payments/payments_daily.py": daily.replace("from common.dbt import", "from common.marts import") + "\n# v2\n",
    })
    step = env.steps("v2")[DAGS[2]]
    assert "dags/common/marts.py" in step.files
    with aws_calls() as calls:
        run(step, ctx)
    order = writes(calls)
    assert order.index(("PutObject", "dags/common/marts.py")) < order.index(("PutObject", "dags/payments/payments_daily.py"))
    manifest = next(i for i, (op, key) in enumerate(order) if key.endswith("payments_daily.py.json"))
    assert order.index(("PutObject", "dags/payments/payments_daily.py")) < manifest
    assert ("DeleteObject", "dags/common/dbt.py") not in order, "merchants_weekly still imports common.dbt"
    assert env.dags()["common/marts.py"] == (mini.root / "dags/common/dbt.py").read_bytes()


def test_retire_keeps_the_helpers_another_dags_manifest_names(mini: GitWorkspace, aws: str, tmp_path: Path) -> None:
    env = Mini(mini, aws)
    ctx = env.ctx(tmp_path)
    for step in env.steps("v1").values():
        run(step, ctx)
    retire = env.steps("v1", operation="retire")
    with aws_calls() as calls:
        run(retire[DAGS[2]], ctx)
    assert writes(calls)[0] == ("DeleteObject", "dags/payments/payments_daily.py"), "the scheduler loses the DAG first"
    assert env.dags() == _expected(env, DAGS[:2])
    for label in DAGS[:2]:
        run(retire[label], ctx)
    assert env.dags() == {} and env.manifests() == {}
    assert "0 objects deleted" in run(retire[DAGS[0]], ctx)


def test_a_rollback_reapplies_the_previous_steps_and_restores_the_dag_set(mini: GitWorkspace, aws: str, tmp_path: Path) -> None:
    env = Mini(mini, aws)
    ctx = env.ctx(tmp_path)
    v1 = env.steps("v1")
    for step in v1.values():
        run(step, ctx)
    before = env.dags()
    mini.write({"dags/common/spark.py": (mini.root / "dags/common/spark.py").read_text() + "\nRETRIES = 5\n",
                "dags/ops/housekeeping.py": (mini.root / "dags/ops/housekeeping.py").read_text() + "\n# v2\n"})
    for step in env.steps("v2").values():
        run(step, ctx)
    assert env.dags() != before
    for step in v1.values():  # what build_rollback plans: the earlier steps, their bytes from the state store
        run(step, ctx)
    assert env.dags() == before
    assert {m["fingerprint"] for m in env.manifests().values()} == {f"v1-{label}" for label in DAGS}


def test_a_fenced_out_deploy_writes_nothing(mini: GitWorkspace, aws: str, tmp_path: Path) -> None:
    env = Mini(mini, aws)
    ctx = env.ctx(tmp_path)
    for step in env.steps("v1").values():
        run(step, ctx)
    mini.write({"dags/common/spark.py": "# replaced\n"})
    versions = object_versions(aws)
    with aws_calls() as calls:
        with pytest.raises(FencingError):
            run(env.steps("v2")[DAGS[2]], fenced_out(ctx, tmp_path / "state"))
        with pytest.raises(FencingError):
            run(env.steps("v1", operation="retire")[DAGS[0]], fenced_out(ctx, tmp_path / "state-retire"))
    assert writes(calls) == []
    assert object_versions(aws) == versions


def test_requirements_are_uploaded_once_and_their_version_id_recorded(mini: GitWorkspace, aws: str, tmp_path: Path) -> None:
    mini.write({"dags/requirements.txt": "apache-airflow-providers-amazon==9.1.0\n"})
    env = Mini(mini, aws, requirements="dags/requirements.txt")
    ctx = env.ctx(tmp_path)
    with aws_calls() as calls:
        outcomes = [run(step, ctx) for step in env.steps("v1").values()]
    assert [key for op, key in writes(calls) if key == "requirements.txt"] == ["requirements.txt"], (outcomes, writes(calls))
    (version,) = [v for key, v in object_versions(aws) if key == "requirements.txt"]
    uploads = {m["uploads"]["requirements.txt"]["version_id"] for m in env.manifests().values()}
    assert uploads == {version}
    assert all(f"requirements.txt is version {version}" in outcome for outcome in outcomes)
    assert "requirements.txt" not in env.dags(), "it goes to RequirementsS3Path, not into the DAGs folder"
    with aws_calls() as calls:
        for step in env.steps("v1").values():
            run(step, ctx)
    assert writes(calls) == []


def test_the_engine_deploys_to_mwaa_and_glue_and_a_rollback_restores_the_dag_set(mini: GitWorkspace, aws: str, registry: str) -> None:
    """make_plan, deploy and build_rollback as the CLI runs them, with `[backends] airflow = "mwaa"`, kafka = "glue"."""
    import boto3

    from graphbuild.envs import load_environment
    from graphbuild.plan.archive import save_plan
    from graphbuild.plan.builder import build_rollback
    from graphbuild.plan.evaluator import deploy
    from graphbuild.plan.workflow import make_plan, open_store

    settings = (mini.root / "graphbuild.toml").read_text().replace('ignore = ["README.md"]', 'ignore = ["README.md", "environments/**"]')
    mini.write({"graphbuild.toml": settings, "environments/dev.toml": (
        f'description = "Dev on AWS."\nstate = "state"\nbackend_dir = "local/dev"\n\n[backends]\nairflow = "mwaa"\nkafka = "glue"\n\n'
        f'[mwaa]\ndags = "s3://{aws}/dags"\n\n[glue]\nregistry = "{registry}"\n')})
    mini.commit("dev on AWS")
    env = Mini(mini, aws)

    def release() -> Any:
        with mini.session(use_cache=False) as session:
            plan = make_plan(session, "dev", author="li.wei").plan
        environment = load_environment(mini.root, "dev")
        return deploy(open_store(environment), environment, plan, actor="ci")  # a failed step raises

    release()
    v1 = env.dags()
    assert v1 == _expected(env) and HELPERS <= set(v1)
    glue = boto3.client("glue")
    schema = glue.get_schema(SchemaId={"RegistryName": registry, "SchemaName": "payments.v1-value"})
    assert (schema["Compatibility"], schema["LatestSchemaVersion"]) == ("BACKWARD", 1)

    mini.write({"dags/common/spark.py": (mini.root / "dags/common/spark.py").read_text() + "\nRETRIES = 5\n",
                "dags/ops/housekeeping.py": None,
                "dags/payments/refunds_daily.py": (mini.root / "dags/payments/merchants_weekly.py").read_text()
                .replace("merchants_weekly", "refunds_daily")})
    mini.commit("v2")
    release()
    assert "ops/housekeeping.py" not in env.dags() and "payments/refunds_daily.py" in env.dags()

    environment = load_environment(mini.root, "dev")
    store = open_store(environment)
    rollback = build_rollback(store, environment, author="oncall")
    save_plan(store, rollback, {})
    done = deploy(store, environment, rollback, actor="oncall")
    assert {r.step.label for r in done.steps} >= {"//dags/ops:housekeeping", "//dags/payments:refunds_daily"}
    assert env.dags() == v1, "the previous DAG set, byte for byte: the new DAG retired, the removed one back"


def test_in_an_unversioned_bucket_requirements_are_not_uploaded_again(mini: GitWorkspace, aws: str, tmp_path: Path) -> None:
    import boto3

    plain = f"{aws}-plain"
    boto3.client("s3").create_bucket(Bucket=plain)  # no versioning: S3 gives no version id to compare
    mini.write({"dags/requirements.txt": "apache-airflow-providers-amazon==9.1.0\n"})
    env = Mini(mini, plain, requirements="dags/requirements.txt")
    ctx = env.ctx(tmp_path)
    step = env.steps("v1")[DAGS[0]]
    run(step, ctx)
    with aws_calls() as calls:
        outcome = run(step, ctx)
    assert writes(calls) == [] and outcome.endswith("requirements.txt is in an unversioned bucket (MWAA needs versioning on)")
