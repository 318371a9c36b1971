"""``kafka_topic`` on the AWS Glue Schema Registry: the topic's schema registered under its compatibility mode.

``[backends] kafka = "glue"`` with a ``[glue]`` section (``Glue``, validated when a plan is made: the registry's name; the
registry itself is infrastructure, made by Terraform). ``register`` (phase SCHEMAS, forward-only, as on
the local backend ``rules.deploy.kafka_local``, whose request it reuses) keeps one Glue schema per
subject, ``<topic>-value``, whose versions are the topic's ``versions/<n>.avsc`` history and then its
``schema.avsc``.

Every read and check comes first: the schema's registered versions are fetched (``get_schema``, then
``get_schema_version`` by number: moto's server answers ``list_schema_versions`` with an error 500), a
version the topic's history names must be that schema, and a new schema must pass graphbuild's own
check (``rules.checks.avro_compat`` through ``kafka_local.require_compatible``) against them under the
mode of ``topic.toml``. Glue enforces its mode too, but moto does not, and Glue's verdict comes late
(a version ``FAILURE``) and names no field. Only then, under the lease's fence, ``create_schema`` (with
the mode mapped to Glue's: ``*_TRANSITIVE`` is ``*_ALL``) or ``register_schema_version`` write, and
``update_schema`` follows a mode changed in ``topic.toml``. A schema equal to a registered version
(canonical form) writes nothing; Glue, and moto, also answer a re-registered definition with its
existing version. ``retire`` writes nothing: a removed topic's versions stay registered, as consumers
may still read its data.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from graphbuild.errors import DeployError
from graphbuild.plan.definition import DeployContext, DeployPlanContext, Phase, Reversibility, Step, StepSpec
from rules.deploy.kafka_local import canonical_schema, load_schema, require_compatible, topic_request
from rules.deploy.local import require_settings

__all__ = ["BACKEND", "GLUE_MODES", "Glue", "register", "register_step"]

BACKEND = "glue"
HANDLER = "rules.deploy.kafka_glue:register"
# graphbuild's (Confluent's) compatibility modes -> Glue's
GLUE_MODES = {"BACKWARD": "BACKWARD", "BACKWARD_TRANSITIVE": "BACKWARD_ALL", "FORWARD": "FORWARD",
              "FORWARD_TRANSITIVE": "FORWARD_ALL", "FULL": "FULL", "FULL_TRANSITIVE": "FULL_ALL", "NONE": "NONE"}
_SETTLE_S = 60.0  # how long a PENDING version (Glue checking compatibility) is waited for


class Glue(BaseModel):
    """``[glue]``: the AWS Glue Schema Registry the ``glue`` backend registers topic schemas in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    registry: str = Field(pattern=r"^[A-Za-z0-9_$#.-]{1,255}$", description="The registry's name.")
    region: str | None = Field(default=None, description="The AWS region (default: the deploying process's).")


def register_step(target: Any, ctx: DeployPlanContext) -> StepSpec:
    """The ``register`` step of one ``kafka_topic`` on Glue: the local backend's request plus the registry."""
    glue = require_settings(ctx, "glue", "registry = \"<the registry's name>\"", Glue)
    request, note = topic_request(target, ctx)
    return StepSpec.of("register", Phase.SCHEMAS, HANDLER, {**request, "glue": glue},
                       files=tuple(sorted({request["schema"], *request["versions"]})),
                       reversibility=Reversibility.FORWARD_ONLY, estimate_s=2.0, notes=(note,))


def register(step: Step, ctx: DeployContext) -> str:
    """Register the topic's schema in Glue under its mode, after graphbuild's check (the history first if missing)."""
    glue, subject = step.request["glue"], step.request["subject"]
    if step.operation == "retire":
        return f"{subject}: left registered in {glue['registry']} (a registry keeps a removed topic's versions)"
    client = _glue(glue)
    schema_id = {"RegistryName": glue["registry"], "SchemaName": subject}
    mode = step.request["compatibility"]
    schema = _schema(client, schema_id)
    registered = _versions(client, schema_id, schema)
    writes = _history(step, ctx, registered)
    known = registered + [(n, load_schema(text.encode(), path)) for n, text, path in writes]
    schema_path = step.request["schema"]
    text = ctx.read_blob(step.files[schema_path]).decode()
    new = load_schema(text.encode(), schema_path)
    imported = len(writes)
    same = next((n for n, old in known if canonical_schema(old) == canonical_schema(new)), None)
    outcome = f"schema already registered as version {same}"
    if same is None:
        require_compatible(subject, mode, new, known, schema_path)
        same = (known[-1][0] if known else 0) + 1
        writes.append((same, text, schema_path))
        outcome = f"registered version {same}"
    glue_mode = GLUE_MODES[mode]
    with ctx.fenced(step):  # the registry writes: refused if another deploy took the lease over
        for number, definition, path in writes:
            got = _write(client, schema_id, definition, glue_mode, exists=schema is not None or number > writes[0][0])
            if got != number:
                raise DeployError(f"{subject}: Glue registered {path} as version {got}, not {number}",
                                  file=path, fix="the registry diverged from the topic's history: reconcile them by hand")
        if schema is not None and schema.get("Compatibility") != glue_mode:
            client.update_schema(SchemaId=schema_id, Compatibility=glue_mode)
    history = f" after importing {imported} historical versions" if imported else ""
    return f"{subject}: {outcome}{history} in Glue registry {glue['registry']} ({glue_mode})"


def _history(step: Step, ctx: DeployContext, registered: list[tuple[int, Any]]) -> list[tuple[int, str, str]]:
    """The topic's versions 1..n Glue still lacks, as (number, definition, file); one it has must be the same."""
    have = dict(registered)
    missing = []
    for number, path in enumerate(step.request["versions"], start=1):
        text = ctx.read_blob(step.files[path]).decode()
        schema = load_schema(text.encode(), path)
        if number not in have:
            missing.append((number, text, path))
        elif canonical_schema(have[number]) != canonical_schema(schema):
            raise DeployError(f"{step.request['subject']}: registered version {number} is not {path}", file=path,
                              fix="the registry diverged from the topic's history: reconcile them by hand")
    return missing


def _schema(client: Any, schema_id: dict[str, str]) -> dict[str, Any] | None:
    try:
        return dict(client.get_schema(SchemaId=schema_id))
    except client.exceptions.EntityNotFoundException:
        return None


def _versions(client: Any, schema_id: dict[str, str], schema: dict[str, Any] | None) -> list[tuple[int, Any]]:
    """The schema's available versions, (number, parsed definition), by number."""
    found = []
    for number in range(1, int(schema["LatestSchemaVersion"]) + 1 if schema else 1):
        try:
            version = client.get_schema_version(SchemaId=schema_id, SchemaVersionNumber={"VersionNumber": number})
        except client.exceptions.EntityNotFoundException:
            continue  # a deleted version
        if version.get("Status") == "AVAILABLE":
            found.append((number, load_schema(version["SchemaDefinition"].encode(), f"{schema_id['SchemaName']} version {number}")))
    return found


def _write(client: Any, schema_id: dict[str, str], definition: str, mode: str, *, exists: bool) -> int:
    """Create the schema with its first version, or register the next one; the version number Glue gave it."""
    try:
        if exists:
            answer = client.register_schema_version(SchemaId=schema_id, SchemaDefinition=definition)
        else:
            answer = client.create_schema(RegistryId={"RegistryName": schema_id["RegistryName"]}, SchemaName=schema_id["SchemaName"],
                                          DataFormat="AVRO", Compatibility=mode, SchemaDefinition=definition)
    except client.exceptions.EntityNotFoundException:
        raise DeployError(f"Glue registry {schema_id['RegistryName']} does not exist",
                          fix="create it (Terraform: aws_glue_registry), or fix [glue] registry") from None
    status, version_id = answer.get("Status") or answer.get("SchemaVersionStatus"), answer["SchemaVersionId"]
    deadline = time.monotonic() + _SETTLE_S
    while status == "PENDING" and time.monotonic() < deadline:  # Glue runs its own compatibility check
        time.sleep(1.0)
        status = client.get_schema_version(SchemaVersionId=version_id)["Status"]
    if status != "AVAILABLE":
        raise DeployError(f"{schema_id['SchemaName']}: Glue left the new version {status}",
                          fix="see the version in the Glue console: Glue's own compatibility check refused it")
    number = answer.get("VersionNumber") or client.get_schema_version(SchemaVersionId=version_id)["VersionNumber"]
    return int(number)


def _glue(glue: dict[str, Any]) -> Any:
    import boto3

    return boto3.client("glue", region_name=glue.get("region"))  # AWS_ENDPOINT_URL reaches moto's server in tests
