"""Open the state store an environment's ``state`` names: a folder below the workspace, or ``s3://bucket/prefix``.

>>> import tempfile; tmp = tempfile.TemporaryDirectory()
>>> open_store("state", root=tmp.name)  # doctest: +ELLIPSIS
LocalStore('.../state')
>>> open_store("s3://finsight-state/prod", root=tmp.name, region="eu-west-1")
S3Store('s3://finsight-state/prod')
>>> tmp.cleanup()
"""

from __future__ import annotations

import re
from pathlib import Path

from graphbuild.state.definition import StateStore
from graphbuild.state.local import LocalStore

__all__ = ["S3_LOCATION", "check_s3_location", "is_s3", "open_store"]

S3_LOCATION = r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*'()/-]*)?"  # a bucket name, then an optional key prefix


def check_s3_location(value: str) -> str:
    """``value`` if it is an ``s3://bucket/prefix`` location, else ``ValueError`` (for pydantic validators).

    >>> check_s3_location("s3://finsight-state/prod")
    's3://finsight-state/prod'
    """
    if not re.fullmatch(S3_LOCATION, value):
        raise ValueError("must be an s3://bucket/prefix/ location")
    return value


def is_s3(location: str) -> bool:
    """Whether a ``state`` setting names an S3 location."""
    return location.startswith("s3://")


def open_store(location: str, *, root: Path | str, endpoint_url: str | None = None, region: str | None = None) -> StateStore:
    """The store at ``location``: ``s3://bucket/prefix`` (boto3; endpoint and region from the arguments,
    else the AWS configuration: AWS_ENDPOINT_URL, AWS_REGION, profiles), else a folder relative to ``root``."""
    if is_s3(location):
        from graphbuild.state.s3 import S3Store, split_s3_url

        bucket, prefix = split_s3_url(location)
        return S3Store(bucket, prefix, endpoint_url=endpoint_url, region=region)
    return LocalStore(Path(root) / location)
