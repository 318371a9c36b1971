"""``airflow_dag`` on Amazon MWAA: DAG files synced to the environment's S3 DAGs folder.

``[backends] airflow = "mwaa"`` with an ``[mwaa]`` section (``Mwaa``, validated when a plan is made): ``dags`` is the
environment's DAGs location, ``s3://<source bucket>/<DagS3Path>``. One ``sync`` step per DAG, as on the
local backend (``rules.deploy.airflow_local``, whose layout it reuses: the DAG file at its path below its
DAGs folder, the ``dags/common`` helpers at their import paths)::

    s3://finsight-mwaa-prod/dags/common/dbt.py                              a helper (metadata sha256)
    s3://finsight-mwaa-prod/dags/payments/payments_daily.py                 the DAG file, written last
    s3://finsight-mwaa-prod/graphbuild/mwaa/dags/manifests/payments/payments_daily.py.json
                                                                            what that DAG placed: file -> sha256

MWAA's scheduler copies the DAGs folder from S3 continually, so the order of the writes is what it can
see: every read and comparison comes first, then under the lease's fence the helpers are written, the DAG
file last, the manifest, and only then the files the previous version placed and no DAG uses any more
(the DAG file of a ``retire`` first). An object is written only when its content differs: its
``sha256`` metadata (or, for an object another tool wrote, its ETag, the MD5 of a single-part upload) is
compared with the planned bytes, so a second deploy of the same plan sends no PutObject. Rollback is the
engine's: the earlier plan's ``sync`` steps are re-applied from the state store's blobs, and a DAG the
earlier plan did not have is retired.

With ``requirements`` (or ``plugins``) set to a workspace file, each step also uploads it, when it
differs, to ``requirements_key`` (``plugins_key``) and records the object's version id in the manifest
and its outcome: MWAA installs a new requirements.txt only through ``update-environment
--requirements-s3-object-version``, which this step does not call (moto has no MWAA API to test it
against); the version id is what a pipeline passes to it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from graphbuild.errors import DeployError
from graphbuild.plan.definition import DeployContext, DeployPlanContext, Phase, Reversibility, Step, StepSpec
from graphbuild.state.stores import S3_LOCATION
from rules.deploy.airflow_local import dag_layout, doomed
from rules.deploy.local import require_settings

__all__ = ["BACKEND", "Mwaa", "dags_location", "sync", "sync_step"]

BACKEND = "mwaa"
HANDLER = "rules.deploy.airflow_mwaa:sync"
_EXTRAS = (("requirements", "requirements_key"), ("plugins", "plugins_key"))


class Mwaa(BaseModel):
    """``[mwaa]``: the Amazon MWAA environment the ``mwaa`` backend syncs DAGs to (names, never secrets)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dags: str = Field(description="The environment's DAGs folder: s3://<source bucket>/<DagS3Path>, e.g. s3://finsight-mwaa-prod/dags.")
    environment: str | None = Field(default=None, description="The MWAA environment's name (for update-environment).")
    requirements: str | None = Field(default=None, description="A workspace file uploaded as the environment's requirements.txt.")
    requirements_key: str = Field(default="requirements.txt", description="Its key in the source bucket (RequirementsS3Path).")
    plugins: str | None = Field(default=None, description="A workspace file uploaded as the environment's plugins.zip.")
    plugins_key: str = Field(default="plugins.zip", description="Its key in the source bucket (PluginsS3Path).")
    region: str | None = Field(default=None, description="The AWS region (default: the deploying process's).")

    @field_validator("dags")
    @classmethod
    def _s3(cls, value: str) -> str:
        if not re.fullmatch(S3_LOCATION, value) or value.rstrip("/").count("/") < 3:
            raise ValueError("must be an s3://bucket/prefix location (MWAA reads DAGs under a prefix of its bucket)")
        return value


def sync_step(target: Any, ctx: DeployPlanContext) -> StepSpec:
    """The ``sync`` step of one ``airflow_dag`` on MWAA: the local layout, and where the DAGs folder is."""
    mwaa = require_settings(ctx, "mwaa", "dags = \"s3://<the environment's source bucket>/dags\"", Mwaa)
    dag_file, layout = dag_layout(target, ctx)
    extras = [mwaa[path] for path, _ in _EXTRAS if mwaa.get(path)]
    return StepSpec.of(
        "sync",
        Phase.ORCHESTRATION,
        HANDLER,
        {"dag_file": dag_file, "layout": layout, "mwaa": mwaa},
        files=tuple(sorted({*layout, *extras})),
        reversibility=Reversibility.POINTER,
        estimate_s=2.0 + 0.1 * len(layout),
    )


def dags_location(dags: str) -> tuple[str, str, str]:
    """The bucket, the DAGs key prefix and the manifests key prefix of a ``[mwaa] dags`` location.

    >>> dags_location("s3://finsight-mwaa-prod/dags")
    ('finsight-mwaa-prod', 'dags/', 'graphbuild/mwaa/dags/manifests/')
    """
    bucket, _, prefix = dags.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/") + "/"
    return bucket, prefix, f"graphbuild/mwaa/{prefix}manifests/"


# --------------------------------------------------------------------------------------------------
# The handler


def sync(step: Step, ctx: DeployContext) -> str:
    """Place (``apply``) or remove (``retire``) one DAG and its helpers in the MWAA DAGs folder."""
    mwaa, layout = step.request["mwaa"], dict(step.request["layout"])
    dag_dest = layout[step.request["dag_file"]]
    bucket, prefix, manifests = dags_location(mwaa["dags"])
    folder = _Folder(_s3(mwaa), bucket)
    manifest_key = f"{manifests}{dag_dest}.json"
    record = folder.json(manifest_key)
    previous = dict(record["files"]) if record else None
    used = folder.used_by_others(manifests, manifest_key)
    if step.operation == "retire":
        placed = previous or {dest: "" for dest in layout.values()}
        gone = folder.existing([prefix + name for name in doomed(placed, used, dag_dest)] + [manifest_key])
        with ctx.fenced(step):  # the scheduler reads this folder: every change to it is a visible switch
            folder.delete(gone)
        removed = len(gone) - (manifest_key in gone)
        return f"retired {dag_dest} from s3://{bucket}/{prefix} ({removed} objects deleted, shared helpers kept while used)"
    contents = {layout[path]: ctx.read_blob(step.files[path]) for path in layout}
    files = {dest: _sha256(data) for dest, data in contents.items()}
    changed = [dest for dest in sorted(contents, key=lambda d: d == dag_dest) if not folder.holds(prefix + dest, contents[dest])]
    extras = {mwaa[key]: ctx.read_blob(step.files[mwaa[path]]) for path, key in _EXTRAS if mwaa.get(path)}
    held = {key: folder.version(key) for key, data in extras.items() if folder.holds(key, data)}
    stale = folder.existing([prefix + name for name in doomed((previous or {}).keys() - files.keys(), used, None)])
    manifest = {"dag": dag_dest, "label": step.label, "fingerprint": step.fingerprint, "files": files}
    with ctx.fenced(step):  # requirements and helpers, the DAG file last, then what this version no longer places
        versions = {key: held[key] if key in held else folder.put(key, data) for key, data in extras.items()}
        for dest in changed:
            folder.put(prefix + dest, contents[dest])
        manifest["uploads"] = {key: {"sha256": _sha256(data), "version_id": versions[key]} for key, data in extras.items()}
        if record != manifest:
            folder.put(manifest_key, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
        folder.delete(stale)
    unchanged = "" if changed or stale or len(held) < len(extras) or record != manifest else " (unchanged)"
    told = "".join(f"; {key} is version {upload['version_id']} (MWAA installs it on update-environment, not called here)"
                   if upload["version_id"] else f"; {key} is in an unversioned bucket (MWAA needs versioning on)"
                   for key, upload in sorted(manifest["uploads"].items()))
    return (f"synced {dag_dest} to s3://{bucket}/{prefix} with {len(files) - 1} other files: "
            f"{len(changed)} written, {len(stale)} deleted{unchanged}{told}")


class _Folder:
    """The objects of one bucket as the sync sees them: compared by content, written only when different."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket

    def head(self, key: str) -> dict[str, Any] | None:
        import botocore.exceptions

        try:
            return dict(self.s3.head_object(Bucket=self.bucket, Key=key))
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise

    def holds(self, key: str, data: bytes) -> bool:
        """Whether ``key`` holds ``data``: by its sha256 metadata, or for another tool's upload by its ETag (MD5)."""
        head = self.head(key)
        if head is None:
            return False
        recorded = head.get("Metadata", {}).get("sha256")
        if recorded:
            return bool(recorded == _sha256(data))
        return bool(head.get("ETag", "").strip('"') == hashlib.md5(data, usedforsecurity=False).hexdigest())

    def version(self, key: str) -> str | None:
        head = self.head(key)
        return head.get("VersionId") if head else None

    def put(self, key: str, data: bytes) -> str | None:
        """Write ``key``; its version id (None in an unversioned bucket)."""
        digest = hashlib.sha256(data).digest()
        answer = self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, Metadata={"sha256": digest.hex()},
                                    ChecksumSHA256=base64.b64encode(digest).decode())  # S3 refuses a corrupted body
        return answer.get("VersionId")

    def json(self, key: str) -> dict[str, Any] | None:
        import botocore.exceptions

        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        try:
            value = json.loads(body)
            dict(value["files"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DeployError(f"unreadable DAG manifest: {exc}", file=f"s3://{self.bucket}/{key}",
                              fix="delete it and deploy again: sync rewrites it") from None
        return dict(value)

    def used_by_others(self, manifests: str, own: str) -> set[str]:
        """Every file another DAG's manifest names (a shared helper stays while one does)."""
        used: set[str] = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=manifests):
            for item in page.get("Contents", ()):
                if item["Key"] != own and item["Key"].endswith(".json"):
                    used.update((self.json(item["Key"]) or {"files": {}})["files"])
        return used

    def existing(self, keys: list[str]) -> list[str]:
        """The ``keys`` that exist, in order (deleting a missing key would add a delete marker to a versioned bucket)."""
        return [key for key in keys if self.head(key) is not None]

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            self.s3.delete_object(Bucket=self.bucket, Key=key)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _s3(mwaa: dict[str, Any]) -> Any:
    import boto3

    return boto3.client("s3", region_name=mwaa.get("region"))  # AWS_ENDPOINT_URL reaches moto's server in tests
