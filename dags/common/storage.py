"""Object-store look-ups that sensors make when they run (never while a DAG file is parsed).

Locations are URIs taken from the worker's environment: `s3://bucket/prefix` in staging and prod, a
plain folder in dev (the embedded default, so a laptop needs no AWS). boto3 is imported only when an
S3 URI is actually read.
"""

from __future__ import annotations

import fnmatch
import os
from datetime import datetime, timezone
from pathlib import Path


class LocationError(RuntimeError):
    """A location setting that is missing or malformed on the worker."""


def env_location(name: str) -> str:
    """The URI in environment variable `name`, without a trailing slash."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise LocationError(f"environment variable {name} is not set on this worker")
    return value.rstrip("/")


def split_s3(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b` -> (`bucket`, `a/b`)."""
    if not uri.startswith("s3://"):
        raise LocationError(f"not an s3 URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise LocationError(f"s3 URI without a bucket: {uri!r}")
    return bucket, key


def _s3():
    import boto3  # imported at run time only

    return boto3.client("s3")


def list_objects(prefix: str) -> list[tuple[str, datetime]]:
    """(name relative to `prefix`, last modified) of every object under `prefix`."""
    prefix = prefix.rstrip("/") + "/"
    if prefix.startswith("s3://"):
        bucket, key = split_s3(prefix)
        found: list[tuple[str, datetime]] = []
        for page in _s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            for item in page.get("Contents", []):
                found.append((item["Key"][len(key) :], item["LastModified"]))
        return found
    root = Path(prefix)
    if not root.is_dir():
        return []
    return [
        (str(path.relative_to(root)), datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc))
        for path in root.rglob("*")
        if path.is_file()
    ]


def object_exists(uri: str) -> bool:
    """True when the object (or local file) `uri` exists."""
    if uri.startswith("s3://"):
        bucket, key = split_s3(uri)
        response = _s3().list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
        return any(item["Key"] == key for item in response.get("Contents", []))
    return Path(uri).is_file()


def matching_objects(prefix: str, pattern: str) -> list[str]:
    """Names under `prefix` that match the shell pattern `pattern`, sorted."""
    return sorted(name for name, _ in list_objects(prefix) if fnmatch.fnmatch(name, pattern))


def latest_modified(prefix: str) -> datetime | None:
    """When the newest object under `prefix` was written, or None when there is none."""
    stamps = [modified for _, modified in list_objects(prefix)]
    return max(stamps) if stamps else None
