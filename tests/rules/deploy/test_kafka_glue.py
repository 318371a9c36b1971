"""``kafka_topic`` on the Glue Schema Registry: the mini workspace's topic registered on moto's server, over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphbuild.errors import DeployError, FencingError
from graphbuild.plan.definition import Phase, Reversibility
from graphbuild.testing import GitWorkspace
from graphbuild.testing.handlers import fenced_out
from rules.checks.avro_compat import MODES
from rules.deploy.kafka_glue import GLUE_MODES
from tests.rules.deploy.aws import aws_calls, aws_context, env_context, glue_registry, writes
from tests.rules.deploy.steps import Store, bind, deploy_context, run, steps_of

MINI = Path(__file__).resolve().parents[2] / "fixtures" / "mini"
LABEL = "//kafka/topics:payments.v1"
FOLDER = "kafka/topics/payments.v1"
SUBJECT = "payments.v1-value"


@pytest.fixture
def aws(s3_endpoint: str, aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)


@pytest.fixture
def registry(aws: None) -> Iterator[str]:
    """A new registry, deleted afterwards: an account has 10 at most (Glue's quota, which moto enforces)."""
    with glue_registry() as name:
        yield name


class Topic:
    """The mini workspace's topic, planned for a Glue registry and run step by step."""

    def __init__(self, ws: GitWorkspace, registry: str, tmp_path: Path) -> None:
        self.ws, self.registry, self.store = ws, registry, Store()
        self.ctx = deploy_context(tmp_path / "backend", self.store)
        self.id = {"RegistryName": registry, "SchemaName": SUBJECT}

    def spec(self) -> Any:
        with self.ws.session(use_cache=False) as session:
            (spec,) = steps_of(session, LABEL, aws_context(session.fingerprinted(), "glue", {"registry": self.registry}))
        return spec

    def step(self, version: str = "v1", operation: str = "apply") -> Any:
        return bind(self.spec(), LABEL, version, self.ws.root, self.store, operation=operation)

    def deploy(self, version: str = "v1") -> str:
        return run(self.step(version), self.ctx)

    def versions(self) -> dict[int, dict[str, Any]]:
        import boto3

        glue = boto3.client("glue")
        latest = glue.get_schema(SchemaId=self.id)["LatestSchemaVersion"]
        return {n: json.loads(glue.get_schema_version(SchemaId=self.id, SchemaVersionNumber={"VersionNumber": n})["SchemaDefinition"])
                for n in range(1, latest + 1)}

    def compatibility(self) -> str:
        import boto3

        return str(boto3.client("glue").get_schema(SchemaId=self.id)["Compatibility"])

    def change(self, field: dict[str, Any] | None = None, **topic: str) -> None:
        schema = json.loads((self.ws.root / FOLDER / "schema.avsc").read_text())
        if field:
            schema["fields"].append(field)
        toml = (self.ws.root / FOLDER / "topic.toml").read_text()
        for key, value in topic.items():
            toml = "\n".join(f'{key} = "{value}"' if line.startswith(f"{key} =") else line for line in toml.splitlines()) + "\n"
        self.ws.write({f"{FOLDER}/schema.avsc": json.dumps(schema, indent=2), f"{FOLDER}/topic.toml": toml})


def test_the_glue_step_is_the_local_request_plus_the_registry(mini: GitWorkspace, registry: str, tmp_path: Path) -> None:
    spec = Topic(mini, registry, tmp_path).spec()
    assert (spec.name, spec.phase, spec.reversibility) == ("register", Phase.SCHEMAS, Reversibility.FORWARD_ONLY)
    assert spec.handler == "rules.deploy.kafka_glue:register"
    assert (spec.request["subject"], spec.request["compatibility"]) == (SUBJECT, "BACKWARD")
    assert dict(spec.request["glue"]) == {"registry": registry, "region": None}  # validated: its defaults filled in
    assert "upgrade consumers first" in spec.notes[0]


def test_a_glue_environment_without_its_section_is_refused_at_plan_time(mini: GitWorkspace) -> None:
    with mini.session(use_cache=False) as session, pytest.raises(DeployError, match=r"uses the glue backend but has no \[glue\] section"):
        steps_of(session, LABEL, aws_context(session.fingerprinted(), "glue", {}))


def test_every_mode_maps_to_a_glue_mode() -> None:
    assert set(GLUE_MODES) == set(MODES)
    assert {GLUE_MODES[m] for m in MODES if m.endswith("_TRANSITIVE")} == {"BACKWARD_ALL", "FORWARD_ALL", "FULL_ALL"}


def test_the_first_registration_imports_the_history_and_a_second_is_a_noop(mini: GitWorkspace, registry: str, tmp_path: Path) -> None:
    topic = Topic(mini, registry, tmp_path)
    with aws_calls() as calls:
        outcome = topic.deploy()
    assert writes(calls) == [("CreateSchema", SUBJECT)], "versions/1.avsc is schema.avsc: one version"
    assert "already registered as version 1 after importing 1 historical versions" in outcome
    assert topic.versions() == {1: json.loads((mini.root / FOLDER / "versions/1.avsc").read_text())}
    assert topic.compatibility() == "BACKWARD"
    with aws_calls() as calls:
        again = topic.deploy()
    assert writes(calls) == [] and "already registered as version 1" in again


def test_a_compatible_change_registers_the_next_version(mini: GitWorkspace, registry: str, tmp_path: Path) -> None:
    topic = Topic(mini, registry, tmp_path)
    topic.deploy()
    topic.change({"name": "fee", "type": "long", "default": 0})
    with aws_calls() as calls:
        outcome = topic.deploy("v2")
    assert writes(calls) == [("RegisterSchemaVersion", SUBJECT)]
    assert "registered version 2" in outcome
    assert topic.versions()[2]["fields"][-1]["name"] == "fee"
    with aws_calls() as calls:
        topic.deploy("v2")
    assert writes(calls) == [], "idempotent: the same definition is not sent again"


def test_glue_settings_are_read_from_the_environment_file(mini: GitWorkspace, tmp_path: Path) -> None:
    text = 'backend_dir = "local/prod"\n[backends]\nkafka = "glue"\n[glue]\nregistry = "finsight-prod"\n'
    with mini.session(use_cache=False) as session:
        (spec,) = steps_of(session, LABEL, env_context(session.fingerprinted(), tmp_path, text, "kafka", "prod"))
    assert dict(spec.request["glue"]) == {"registry": "finsight-prod", "region": None}


@pytest.mark.parametrize(("section", "key", "line"), [
    ('registry = "a registry"', "glue.registry", 5),
    ('registry = "finsight-dev"\nregion = 7', "glue.region", 6),
    ('registy = "finsight-dev"', "glue.registry", None),  # a missing key has no line: the section's header is named
])
def test_bad_glue_settings_are_refused_at_plan_time_with_file_line_key_and_fix(
        mini: GitWorkspace, tmp_path: Path, section: str, key: str, line: int | None) -> None:
    text = f'backend_dir = "local/dev"\n[backends]\nkafka = "glue"\n[glue]\n{section}\n'
    with mini.session(use_cache=False) as session:
        ctx = env_context(session.fingerprinted(), tmp_path, text, "kafka")
        with pytest.raises(DeployError) as refused:
            steps_of(session, LABEL, ctx)
    error = refused.value
    assert error.message.startswith(f"{key}: ") and error.file == "environments/dev.toml", error.message
    assert error.line == (line or 4) and key in error.fix and "registry" in error.fix


def test_an_incompatible_schema_is_refused_before_any_registry_write(mini: GitWorkspace, registry: str, tmp_path: Path) -> None:
    topic = Topic(mini, registry, tmp_path)
    topic.deploy()
    topic.change({"name": "fee", "type": "long"})  # no default: v1 data cannot be read (BACKWARD)
    with aws_calls() as calls, pytest.raises(DeployError, match=r"not BACKWARD-compatible.*field fee .*no default"):
        topic.deploy("v2")
    assert writes(calls) == []
    assert sorted(topic.versions()) == [1], "moto does not enforce the mode: graphbuild's check did"


def test_a_mode_changed_in_topic_toml_is_set_on_the_glue_schema(mini: GitWorkspace, registry: str, tmp_path: Path) -> None:
    topic = Topic(mini, registry, tmp_path)
    topic.deploy()
    topic.change({"name": "fee", "type": ["null", "long"], "default": None}, compatibility="FULL_TRANSITIVE")
    with aws_calls() as calls:
        topic.deploy("v2")
    assert writes(calls) == [("RegisterSchemaVersion", SUBJECT), ("UpdateSchema", SUBJECT)]
    assert topic.compatibility() == "FULL_ALL"


def test_a_registry_diverged_from_the_history_is_refused(mini: GitWorkspace, registry: str, tmp_path: Path) -> None:
    import boto3

    other = {"type": "record", "name": "Payment", "namespace": "com.finsight.payments", "fields": [{"name": "x", "type": "int"}]}
    boto3.client("glue").create_schema(RegistryId={"RegistryName": registry}, SchemaName=SUBJECT, DataFormat="AVRO",
                                       Compatibility="BACKWARD", SchemaDefinition=json.dumps(other))
    topic = Topic(mini, registry, tmp_path)
    with aws_calls() as calls, pytest.raises(DeployError, match="registered version 1 is not"):
        topic.deploy()
    assert writes(calls) == []


def test_a_missing_registry_is_a_deploy_error(mini: GitWorkspace, registry: str, tmp_path: Path) -> None:
    with pytest.raises(DeployError, match=r"Glue registry .* does not exist"):
        Topic(mini, registry + "-gone", tmp_path).deploy()


def test_a_fenced_out_deploy_registers_nothing(mini: GitWorkspace, registry: str, tmp_path: Path) -> None:
    import boto3

    topic = Topic(mini, registry, tmp_path)
    with aws_calls() as calls, pytest.raises(FencingError):
        run(topic.step(), fenced_out(topic.ctx, tmp_path / "state"))
    assert writes(calls) == []
    with pytest.raises(boto3.client("glue").exceptions.EntityNotFoundException):
        boto3.client("glue").get_schema(SchemaId=topic.id)


def test_retire_leaves_the_versions_registered(mini: GitWorkspace, registry: str, tmp_path: Path) -> None:
    topic = Topic(mini, registry, tmp_path)
    topic.deploy()
    with aws_calls() as calls:
        outcome = run(topic.step(operation="retire"), topic.ctx)
    assert writes(calls) == [] and "left registered" in outcome
    assert sorted(topic.versions()) == [1]


def test_glue_answers_a_re_registered_definition_with_its_existing_version(registry: str) -> None:
    """What the server does (Glue documents it; moto does the same), besides graphbuild registering nothing twice."""
    import boto3

    glue = boto3.client("glue")
    schema_id = {"RegistryName": registry, "SchemaName": "probe-value"}
    first = json.dumps({"type": "record", "name": "P", "fields": [{"name": "a", "type": "long"}]})
    glue.create_schema(RegistryId={"RegistryName": registry}, SchemaName="probe-value", DataFormat="AVRO",
                       Compatibility="BACKWARD", SchemaDefinition=first)
    again = glue.register_schema_version(SchemaId=schema_id, SchemaDefinition=first)
    assert again["VersionNumber"] == 1
    assert glue.get_schema(SchemaId=schema_id)["LatestSchemaVersion"] == 1


_DEFAULTS = {"string": "", "long": 0, "int": 0, "double": 0.0, "boolean": False}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(sorted(_DEFAULTS)), st.booleans()), min_size=1, max_size=3))
def test_each_change_registers_one_version_or_is_refused_leaving_glue_as_it_was(
    aws: None, tmp_path_factory: Any, changes: list[tuple[str, bool]]
) -> None:
    """Fields added one change at a time: with a default one Glue version more, without one no registry write."""
    import shutil

    root = tmp_path_factory.mktemp("glue") / "mini"
    shutil.copytree(MINI, root)
    ws = GitWorkspace(root)
    ws.commit("base")
    with glue_registry() as name:
        topic = Topic(ws, name, root.parent)
        topic.deploy()
        accepted = [json.loads((root / FOLDER / "schema.avsc").read_text())]
        for i, (kind, has_default) in enumerate(changes):
            before = (root / FOLDER / "schema.avsc").read_text()
            topic.change({"name": f"f{i}", "type": kind, **({"default": _DEFAULTS[kind]} if has_default else {})})
            with aws_calls() as calls:
                if has_default:
                    topic.deploy(f"v{i}")
                    accepted.append(json.loads((root / FOLDER / "schema.avsc").read_text()))
                else:
                    with pytest.raises(DeployError, match="not BACKWARD-compatible"):
                        topic.deploy(f"v{i}")
                    assert writes(calls) == []
                    ws.write({f"{FOLDER}/schema.avsc": before})
        assert topic.versions() == dict(enumerate(accepted, start=1))
