"""Helpers for the AWS deploy backend tests: the calls a handler makes, fresh resources on moto's server.

``aws_calls()`` records every API call boto3's default session makes (operation and its parameters)
through botocore's own event hooks: the calls still go to moto's server over HTTP, nothing is replaced.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from graphbuild.plan.definition import DeployPlanContext
from graphbuild.values import freeze

WRITES = frozenset({"PutObject", "DeleteObject", "CopyObject", "DeleteObjects", "CreateSchema", "RegisterSchemaVersion",
                    "UpdateSchema", "DeleteSchema", "DeleteSchemaVersions"})


@contextmanager
def aws_calls() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Yield the list of (operation, parameters) boto3's default session sends while the block runs."""
    import boto3

    session = boto3._get_default_session()
    calls: list[tuple[str, dict[str, Any]]] = []
    hook = f"graphbuild-test-{uuid.uuid4().hex}"

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, dict(params)))

    session.events.register("provide-client-params", record, unique_id=hook)
    try:
        yield calls
    finally:
        session.events.unregister("provide-client-params", unique_id=hook)


def writes(calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
    """The writing calls among ``calls``: (operation, object key or schema name), in order."""
    return [(op, str(p.get("Key") or p.get("SchemaName") or p.get("SchemaId", {}).get("SchemaName"))) for op, p in calls if op in WRITES]


@contextmanager
def glue_registry() -> Iterator[str]:
    """A new Glue registry, deleted on exit (an account has 10 at most: Glue's quota, which moto enforces)."""
    import boto3

    glue = boto3.client("glue")
    name = f"finsight-{uuid.uuid4().hex[:12]}"
    glue.create_registry(RegistryName=name)
    try:
        yield name
    finally:
        glue.delete_registry(RegistryId={"RegistryName": name})


def versioned_bucket() -> str:
    """A new bucket with versioning on (every PutObject then leaves a version to count)."""
    import boto3

    s3 = boto3.client("s3")
    name = f"gb-test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def object_versions(bucket: str) -> list[tuple[str, str]]:
    """Every version (and delete marker) in ``bucket``: (key, version id), sorted."""
    import boto3

    found = []
    for page in boto3.client("s3").get_paginator("list_object_versions").paginate(Bucket=bucket):
        found += [(v["Key"], v["VersionId"]) for v in (*page.get("Versions", ()), *page.get("DeleteMarkers", ()))]
    return sorted(found)


def objects(bucket: str, prefix: str = "") -> dict[str, bytes]:
    """The current objects under ``prefix``: key (without the prefix) -> bytes."""
    import boto3

    s3 = boto3.client("s3")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", ())]
    return {k.removeprefix(prefix): s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in sorted(keys)}


def env_context(head: Any, root: Path, text: str, rule: str, env: str = "dev") -> DeployPlanContext:
    """The plan-time context of ``rule`` as a plan makes it from ``environments/<env>.toml`` holding ``text``
    (written below ``root``): the backend, its section as written, the file's text, the secrets' names."""
    from graphbuild.envs import load_environment
    from graphbuild.plan.builder import plan_context_of

    (root / "environments").mkdir(parents=True, exist_ok=True)
    (root / "environments" / f"{env}.toml").write_text(text)
    return plan_context_of(load_environment(root, env), rule, head, None, {})


def aws_context(head: Any, backend: str, settings: dict[str, Any], env: str = "dev") -> DeployPlanContext:
    """The plan-time context of a rule deploying to ``backend`` with its environment section ``settings``."""
    return DeployPlanContext(env=env, backend=backend, variables=freeze({}), head=head, base=None, settings=freeze(settings))
