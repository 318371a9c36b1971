"""``spark_job`` on EMR Serverless: the job's zip published to S3 by digest, streaming job runs restarted.

``[backends] spark = "emr-serverless"`` with an ``[emr_serverless]`` section (``EmrServerless``, validated when a plan is made:
the application, the artifacts location ``s3://bucket/prefix/spark/``, the job runs' execution role). The
plan's steps carry those names (never a secret); the handlers reach AWS with boto3 when they run.

``publish`` (phase ARTIFACTS, pointer-revertible) builds the same deterministic zip as the ``package`` check
(``rules.checks.spark_package``; its sha256 is its identity) and uploads it with its SHA-256 checksum, next
to a launcher that runs the package's entry module (EMR's ``entryPoint`` is one ``.py`` file; the zip goes
in ``--py-files``). An object already there with the same checksum is not uploaded again. Then
``current.json`` moves to the digest, under the lease's fence::

    s3://bucket/prefix/spark/payments_clean/3f0c...e1.zip             the package (ChecksumSHA256)
    s3://bucket/prefix/spark/payments_clean/3f0c...e1.py              its launcher
    s3://bucket/prefix/spark/payments_clean/fingerprints/<fp>.json    which digest a version built
    s3://bucket/prefix/spark/payments_clean/current.json              {"digest": ..., "fingerprint": ...}

A rollback re-applies the earlier ``publish``: the fingerprint record names its digest, so nothing is
rebuilt or uploaded and only ``current.json`` moves back. A streaming job (``mode="streaming"``) also gets
``restart`` after ``publish``: under the fence it cancels the job run ``run.json`` records
(``cancel_job_run``) and at once starts one on the current package (``start_job_run``, mode STREAMING), and
records the run id and how long the stop -> start gap was (``last_interruption_s``). A run of the current
package that nobody cancelled is left alone; whether it is healthy is the health check's business.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from graphbuild.errors import DeployError
from graphbuild.plan.definition import DeployContext, DeployPlanContext, Phase, Reversibility, Step, StepSpec
from graphbuild.state.stores import check_s3_location
from graphbuild.values import thaw
from rules.deploy.airflow_local import library_files
from rules.deploy.local import require_settings
from rules.deploy.spark_local import INTERRUPTION_GOAL_S, build, package_request

__all__ = ["BACKEND", "EmrServerless", "launcher", "location", "publish", "publish_steps", "restart"]

BACKEND = "emr-serverless"
_MODULE = "rules.deploy.spark_emr:"
PUBLISH_S = 10.0
RESTART_S = 60.0  # cancel, then the new run's driver start and first micro-batch (EMR's pre-initialized capacity helps)
_STOPPED = frozenset({"CANCELLING", "CANCELLED", "FAILED"})  # a run in any other state still runs (or ran) its package
_EXAMPLE = "application, artifacts = \"s3://bucket/prefix/spark/\" and execution_role"


class EmrServerless(BaseModel):
    """``[emr_serverless]``: where the ``emr-serverless`` backend runs jobs (names and ARNs, never secrets)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    application: str = Field(description="The EMR Serverless application: its id, or its name (looked up when a step runs).")
    artifacts: str = Field(description="Where job packages go by digest: s3://bucket/prefix/.")
    execution_role: str = Field(description="The job runs' IAM role: arn:aws:iam::<account>:role/<name>.")
    region: str | None = Field(default=None, description="The AWS region (default: the deploying process's).")

    @field_validator("artifacts")
    @classmethod
    def _s3(cls, value: str) -> str:
        return check_s3_location(value)

    @field_validator("execution_role")
    @classmethod
    def _role(cls, value: str) -> str:
        if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]+", value):
            raise ValueError("must be an IAM role ARN, arn:aws:iam::<account>:role/<name>")
        return value


def publish_steps(target: Any, ctx: DeployPlanContext) -> tuple[StepSpec, ...]:
    """``publish`` for a batch job; ``publish`` then ``restart`` for a streaming one."""
    emr = _settings(ctx)
    request = {**package_request(target, ctx.head), "emr": emr}
    files = tuple(sorted({*request["files"], *library_files(ctx.head.graph, target.label)}))
    publish_spec = StepSpec.of("publish", Phase.ARTIFACTS, _MODULE + "publish", request, files=files,
                               reversibility=Reversibility.POINTER, estimate_s=PUBLISH_S)
    if request["mode"] != "streaming":
        return (publish_spec,)
    note = (f"streaming job {request['job']}: its EMR Serverless job run is cancelled and a new one started on the "
            f"new package; expected interruption ~{RESTART_S:.0f} s (goal < {INTERRUPTION_GOAL_S:.0f} s)")
    restart_spec = StepSpec.of("restart", Phase.ARTIFACTS, _MODULE + "restart", {"job": request["job"], "emr": emr},
                               reversibility=Reversibility.POINTER, estimate_s=RESTART_S, notes=(note,))
    return (publish_spec, restart_spec)


def _settings(ctx: DeployPlanContext) -> dict[str, Any]:
    emr = thaw(ctx.settings)
    if not emr:
        raise DeployError(
            f"environment {ctx.env} deploys spark to {BACKEND} but has no [emr_serverless] section",
            file=f"environments/{ctx.env}.toml",
            fix=f"add [emr_serverless] with {_EXAMPLE}",
        )
    return require_settings(ctx, "emr_serverless", _EXAMPLE, EmrServerless)


def location(artifacts: str, job: str) -> tuple[str, str]:
    """The bucket and key prefix (ending in ``/``) of one job's objects.

    >>> location("s3://finsight-artifacts/prod/spark/", "payments_clean")
    ('finsight-artifacts', 'prod/spark/payments_clean/')
    """
    bucket, _, prefix = artifacts.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/{job}/" if prefix else f"{job}/"


def launcher(manifest: dict[str, Any]) -> bytes:
    """The entry point EMR runs: the package's entry module as ``__main__`` (the zip is on ``--py-files``)."""
    return (f"# graphbuild launcher of {manifest['job']}: runs {manifest['entry_module']} from the --py-files package\n"
            f"import runpy\n\nrunpy.run_module({manifest['entry_module']!r}, run_name=\"__main__\", alter_sys=True)\n").encode()


# --------------------------------------------------------------------------------------------------
# Handlers


def publish(step: Step, ctx: DeployContext) -> str:
    """Upload the job's zip (and launcher) by sha256 unless already there, then point ``current.json`` at it."""
    job, emr = step.request["job"], step.request["emr"]
    s3 = _client("s3", emr)
    bucket, prefix = location(emr["artifacts"], job)
    if step.operation == "retire":
        with ctx.fenced(step):
            s3.delete_object(Bucket=bucket, Key=prefix + "current.json")
        return f"{job}: retired (current.json removed; its packages stay for a rollback)"
    known = _get_json(s3, bucket, prefix + f"fingerprints/{step.fingerprint}.json")
    digest = known.get("digest") if known else None
    uploaded = False
    if digest is None or not _has_object(s3, bucket, prefix + f"{digest}.zip", digest):
        data = build(step, ctx)
        digest = hashlib.sha256(data).hexdigest()
        uploaded = _put_once(s3, bucket, prefix + f"{digest}.zip", data)
        _put_once(s3, bucket, prefix + f"{digest}.py", launcher(_manifest(data)))
        _put_json(s3, bucket, prefix + f"fingerprints/{step.fingerprint}.json", {"digest": digest, "fingerprint": step.fingerprint})
    current = {"job": job, "digest": digest, "fingerprint": step.fingerprint, "package": f"s3://{bucket}/{prefix}{digest}.zip"}
    with ctx.fenced(step):  # the visible switch: refused if another deploy took the lease over
        moved = _get_json(s3, bucket, prefix + "current.json") != current and _put_json(s3, bucket, prefix + "current.json", current)
    how = "uploaded" if uploaded else "already published"
    return f"{job}: {how} s3://{bucket}/{prefix}{digest}.zip" + ("; current moved to it" if moved else "; already current")


def restart(step: Step, ctx: DeployContext) -> str:
    """Cancel the streaming job's run and start one on the current package; the gap is measured and recorded."""
    job, emr = step.request["job"], step.request["emr"]
    s3, emr_client = _client("s3", emr), _client("emr-serverless", emr)
    bucket, prefix = location(emr["artifacts"], job)
    application = _application_id(emr_client, emr["application"])
    state = _get_json(s3, bucket, prefix + "run.json") or {"job": job, "run_id": None, "digest": None}
    running = _run_state(emr_client, application, state["run_id"])
    if step.operation == "retire":
        with ctx.fenced(step):
            _cancel(emr_client, application, state["run_id"], running)
            _put_json(s3, bucket, prefix + "run.json", {**state, "state": "retired", "stopped_at": _now()})
        return f"{job}: job run {state['run_id']} cancelled, stream retired"
    current = _get_json(s3, bucket, prefix + "current.json")
    if current is None:
        raise DeployError(f"{job}: no published package to start", file=f"s3://{bucket}/{prefix}current.json",
                          fix="run the job's publish step first (deploy resumes in plan order)")
    if state["digest"] == current["digest"] and running is not None and running not in _STOPPED:
        return f"{job}: job run {state['run_id']} already runs sha256:{current['digest']} ({running})"
    with ctx.fenced(step):  # cancel and start together: no takeover between them
        stopped_at, began = _now(), time.monotonic()
        _cancel(emr_client, application, state["run_id"], running)
        run_id = _start(emr_client, application, emr, job, current, bucket, prefix, token=f"{step.key}|{state['run_id']}")
        gap = time.monotonic() - began
        record = {"job": job, "state": "running", "run_id": run_id, "application": application, "digest": current["digest"],
                  "fingerprint": current["fingerprint"], "previous_run_id": state["run_id"], "stopped_at": stopped_at,
                  "started_at": _now(), "last_interruption_s": round(gap, 6)}
        _put_json(s3, bucket, prefix + "run.json", record)
    before = f"cancelled {state['run_id']} ({running}), " if state["run_id"] else ""
    return (f"{job}: {before}started job run {run_id} on sha256:{current['digest']}; stop -> start took {gap:.3f} s "
            "(API calls only: the new run's driver start comes on top, and moto's server returns at once)")


def _start(client: Any, application: str, emr: dict[str, Any], job: str, current: dict[str, Any], bucket: str,
           prefix: str, *, token: str) -> str:
    digest = current["digest"]
    answer = client.start_job_run(
        applicationId=application,
        clientToken=hashlib.sha256(token.encode()).hexdigest(),  # a retried call starts no second run
        executionRoleArn=emr["execution_role"],
        name=job,
        mode="STREAMING",
        jobDriver={"sparkSubmit": {
            "entryPoint": f"s3://{bucket}/{prefix}{digest}.py",
            "sparkSubmitParameters": f"--py-files s3://{bucket}/{prefix}{digest}.zip --conf spark.app.name={job}",
        }},
        tags={"graphbuild-job": job, "graphbuild-digest": digest[:64], "graphbuild-fingerprint": current["fingerprint"][:64]},
    )
    return str(answer["jobRunId"])


def _cancel(client: Any, application: str, run_id: str | None, state: str | None) -> None:
    import botocore.exceptions

    if run_id is None or state is None or state in {"CANCELLING", "CANCELLED"}:
        return
    try:
        client.cancel_job_run(applicationId=application, jobRunId=run_id)
    except botocore.exceptions.ClientError as exc:  # a run that already ended cannot be cancelled: it is stopped
        if exc.response.get("Error", {}).get("Code") != "ValidationException":
            raise


def _run_state(client: Any, application: str, run_id: str | None) -> str | None:
    import botocore.exceptions

    if run_id is None:
        return None
    try:
        return str(client.get_job_run(applicationId=application, jobRunId=run_id)["jobRun"]["state"])
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None  # a run EMR no longer knows is not running
        raise


def _application_id(client: Any, application: str) -> str:
    """``application`` is an id, or a name looked up among the account's applications."""
    import botocore.exceptions

    try:
        return str(client.get_application(applicationId=application)["application"]["applicationId"])
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {"ResourceNotFoundException", "ValidationException"}:
            raise
    found = [a["id"] for page in client.get_paginator("list_applications").paginate() for a in page["applications"]
             if a.get("name") == application and a.get("state") != "TERMINATED"]
    if len(found) != 1:
        raise DeployError(f"EMR Serverless application {application!r}: {len(found)} found",
                          fix="set [emr_serverless] application to the application's id (or a name that is unique)")
    return str(found[0])


def _client(service: str, emr: dict[str, Any]) -> Any:
    import boto3

    return boto3.client(service, region_name=emr.get("region"))  # AWS_ENDPOINT_URL reaches moto's server in tests


def _checksum(digest: str) -> str:
    return base64.b64encode(bytes.fromhex(digest)).decode()


def _has_object(s3: Any, bucket: str, key: str, digest: str) -> bool:
    """Whether ``key`` holds an object whose SHA-256 checksum is ``digest``."""
    import botocore.exceptions

    try:
        head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    return head.get("ChecksumSHA256") == _checksum(digest)


def _put_once(s3: Any, bucket: str, key: str, data: bytes) -> bool:
    """Upload ``data`` with its checksum unless ``key`` already holds it; whether it uploaded."""
    digest = hashlib.sha256(data).hexdigest()
    if _has_object(s3, bucket, key, digest):
        return False
    answer = s3.put_object(Bucket=bucket, Key=key, Body=data, ChecksumAlgorithm="SHA256")  # S3 checks the body against it
    if answer.get("ChecksumSHA256") not in (None, _checksum(digest)):
        raise DeployError(f"s3://{bucket}/{key}: S3 stored a checksum other than the package's sha256:{digest}",
                          fix="deploy again: the upload is repeated until the stored object is the package")
    return True


def _put_json(s3: Any, bucket: str, key: str, value: dict[str, Any]) -> bool:
    data = (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json", ChecksumAlgorithm="SHA256")
    return True


def _get_json(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    import botocore.exceptions

    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise
    try:
        return json.loads(body)
    except ValueError as exc:
        raise DeployError(f"unreadable deploy record: {exc}", file=f"s3://{bucket}/{key}",
                          fix="delete it and deploy again: the step rewrites it") from None


def _manifest(data: bytes) -> dict[str, Any]:
    import io
    import zipfile

    from rules.checks.spark_package import MANIFEST

    return json.loads(zipfile.ZipFile(io.BytesIO(data)).read(MANIFEST))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
