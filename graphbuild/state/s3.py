"""The state store on S3 (``state = "s3://bucket/prefix"``): what an ephemeral CI runner deploys with.

Layout under the prefix, mirroring the local store: keys are objects ``<prefix>/<key>``; blobs are
``<prefix>/blobs/<aa>/<sha256>``; locks are ``<prefix>/.locks/<digest of the name>``. Every write is
one PutObject, which S3 makes visible whole or not at all. Conditional writes do the rest:

- ``create``: PutObject with ``If-None-Match: *``; of several writers exactly one wins.
- ``compare_and_swap``: read the object and its ETag, compare the bytes, PutObject with ``If-Match: <etag>``.
- ``append_line``: the same read and ``If-Match`` put, retried with jittered backoff; S3 writes are
  whole, yet a file that does not end with a newline (written by another store) still gets one first.
- ``lock``: an object created with ``If-None-Match: *`` holding an owner id and an expiry, renewed by a
  background thread while held and deleted with ``If-Match`` on release. Unlike ``flock``, nothing
  releases it when its holder dies: it is released by expiry, when the next taker replaces it by
  compare-and-swap on its ETag. Expiry compares wall clocks, so runners need roughly synchronized
  clocks (NTP); the time to live is far above usual skew.

A 412 (PreconditionFailed) or 409 (ConditionalRequestConflict) answer means "not swapped". Every other
S3 or network error becomes a ``StateError`` naming the bucket and key and the likely fix.

Unlike a folder, S3 lets ``a/b`` and ``a/b/c`` both be keys; graphbuild never writes such a pair.

>>> # store = S3Store("finsight-state", "prod", endpoint_url="http://127.0.0.1:5000")
>>> # store.create("envs/prod/lease.json", b"{}")
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from graphbuild.errors import StateError
from graphbuild.state.definition import check_digest, check_path

__all__ = ["S3Store", "split_s3_url"]

_BLOBS = "blobs"
_LOCKS = ".locks"
_CONFLICT_RETRIES = 3
_NOT_SWAPPED = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
_ABSENT = frozenset({"NoSuchKey", "404", "NotFound"})
_CREDENTIALS = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
                          "InvalidToken", "403", "AllAccessDisabled"})


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` as (bucket, prefix without slashes at its ends).

    >>> split_s3_url("s3://finsight-state/prod/")
    ('finsight-state', 'prod')
    >>> split_s3_url("s3://finsight-state")
    ('finsight-state', '')
    """
    if not url.startswith("s3://"):
        raise StateError(f"{url!r} is not an s3:// location", fix="write it as s3://bucket/prefix")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise StateError(f"{url!r} names no bucket", fix="write it as s3://bucket/prefix")
    return bucket, prefix.strip("/")


class S3Store:
    """A ``StateStore`` in an S3 bucket under a prefix; safe between processes and machines.

    ``client`` is a boto3 S3 client (one is made from ``endpoint_url``/``region`` and the AWS
    configuration otherwise). ``lock_ttl_s`` is how long a dead holder's lock blocks others;
    ``lock_wait_s`` how long ``lock`` waits before a ``StateError``.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        lock_ttl_s: float = 60.0,
        lock_wait_s: float = 120.0,
        retry_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.lock_ttl_s = lock_ttl_s
        self.lock_wait_s = lock_wait_s
        self.retry_s = retry_s
        self.clock = clock
        self._client = client if client is not None else _make_client(endpoint_url, region)

    def __repr__(self) -> str:
        return f"S3Store({self.url!r})"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    # keys

    def _object(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def _key(self, path: str) -> str:
        check_path(path)
        if path.split("/", 1)[0] == _BLOBS:
            raise StateError(f"invalid state key {path!r}: 'blobs/' is reserved for blobs", fix="use put_blob")
        return self._object(path)

    def read(self, path: str, offset: int = 0) -> bytes | None:
        got = self._get(self._key(path), offset)
        return None if got is None else got[0]

    def list(self, prefix: str = "") -> list[str]:
        if prefix:
            check_path(prefix[:-1] if prefix.endswith("/") else prefix)
        if prefix.split("/", 1)[0] == _BLOBS:
            return []  # blobs are not keys
        start = self._object("")
        keys = []
        pages = self._call("list", self._object(prefix),
                           lambda: list(self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start + prefix)))
        for page in pages:
            for item in page.get("Contents", ()):
                key = item["Key"][len(start):]
                parts = key.split("/")
                if parts[0] == _BLOBS or any(not part or part.startswith(".") for part in parts):
                    continue  # the store's own objects, or objects graphbuild did not write
                keys.append(key)
        return sorted(keys)

    def write(self, path: str, data: bytes) -> None:
        key = self._key(path)
        self._put(key, data)

    def create(self, path: str, data: bytes) -> bool:
        return self._put(self._key(path), data, IfNoneMatch="*") is not None

    def compare_and_swap(self, path: str, expected: bytes | None, new: bytes) -> bool:
        key = self._key(path)
        if expected is None:
            return self._put(key, new, IfNoneMatch="*") is not None
        got = self._get(key)
        if got is None or got[0] != expected:
            return False
        return self._put(key, new, IfMatch=got[1]) is not None

    def append_line(self, path: str, line: str) -> None:
        if "\n" in line or "\r" in line:
            raise StateError(f"cannot append to {path!r}: the line contains a newline", fix="encode the line as JSON")
        key = self._key(path)
        deadline, attempt = time.monotonic() + self.retry_s, 0
        while True:
            got = self._get(key)
            if got is None:
                done = self._put(key, line.encode() + b"\n", IfNoneMatch="*")
            else:
                data = got[0] if not got[0] or got[0].endswith(b"\n") else got[0] + b"\n"  # a torn line stays apart
                done = self._put(key, data + line.encode() + b"\n", IfMatch=got[1])
            if done is not None:
                return
            attempt += 1
            if time.monotonic() >= deadline:
                raise StateError(f"cannot append to {self._where(key)}: other writers changed it first {attempt} times in "
                                 f"{self.retry_s:.0f}s", fix="retry; if it persists, fewer processes should write this key at once")
            _backoff(attempt)

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        check_path(name)
        held = _HeldLock(self, self._object(f"{_LOCKS}/{hashlib.sha256(name.encode()).hexdigest()[:32]}"), name)
        held.acquire()
        try:
            yield
        except BaseException:
            held.release(strict=False)
            raise
        held.release(strict=True)

    # blobs

    def _blob(self, digest: str) -> str:
        check_digest(digest)
        return self._object(f"{_BLOBS}/{digest[:2]}/{digest}")

    def put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        key = self._blob(digest)
        if self._put(key, data, IfNoneMatch="*") is None:
            stored = self._get(key)
            if stored is None or hashlib.sha256(stored[0]).hexdigest() != digest:
                self._put(key, data)  # present but corrupt: replace it with the right bytes
        return digest

    def get_blob(self, sha256: str) -> bytes:
        key = self._blob(sha256)
        got = self._get(key)
        if got is None:
            raise StateError(f"blob {sha256} is missing from the state store", file=self._where(key),
                             fix="re-run the plan that stored it (graphbuild plan) so its files are stored again")
        if hashlib.sha256(got[0]).hexdigest() != sha256:
            raise StateError(f"blob {sha256} is corrupt (its content does not match its digest)", file=self._where(key),
                             fix="delete the object and re-run the plan that stored it, or restore an earlier version")
        return got[0]

    def has_blob(self, sha256: str) -> bool:
        key = self._blob(sha256)
        try:
            self._call("check", key, lambda: self._client.head_object(Bucket=self.bucket, Key=key), absent_ok=True)
        except _Absent:
            return False
        return True

    # requests

    def _get(self, key: str, offset: int = 0) -> tuple[bytes, str] | None:
        """The object's bytes from ``offset`` and its ETag, or None if absent."""
        extra = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            answer = self._call("read", key, lambda: self._client.get_object(Bucket=self.bucket, Key=key, **extra), absent_ok=True)
        except _Absent:
            return None
        except _PastEnd:
            return b"", ""
        return self._call("read", key, answer["Body"].read), answer["ETag"]

    def _put(self, key: str, data: bytes, **condition: str) -> str | None:
        """PutObject, conditional when ``condition`` is given; its new ETag, or None if the condition failed.

        A 409 (a conditional write racing ours was in flight) is retried a few times, as S3 advises, so
        that False from ``create`` means someone else's object is there; it stays "not swapped" after that.
        """
        for attempt in range(1, _CONFLICT_RETRIES + 1):
            try:
                answer = self._call("write", key, lambda: self._client.put_object(Bucket=self.bucket, Key=key, Body=data, **condition),
                                    conditional=bool(condition))
            except _NotSwapped as failed:
                if failed.conflict and attempt < _CONFLICT_RETRIES:
                    _backoff(attempt)
                    continue
                return None
            except _Absent:
                return None  # If-Match on an object deleted meanwhile answers 404
            return answer["ETag"]
        return None

    def _delete(self, key: str, etag: str) -> bool:
        try:
            self._call("delete", key, lambda: self._client.delete_object(Bucket=self.bucket, Key=key, IfMatch=etag),
                       conditional=True, absent_ok=True)
        except (_NotSwapped, _Absent):
            return False
        return True

    def _where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _call(self, action: str, key: str, request: Callable[[], Any], *, conditional: bool = False, absent_ok: bool = False) -> Any:
        import botocore.exceptions

        try:
            return request()
        except botocore.exceptions.ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if conditional and (code in _NOT_SWAPPED or status in ("412", "409")):
                raise _NotSwapped(conflict=code == "ConditionalRequestConflict" or status == "409") from None
            if absent_ok and (code in _ABSENT or status == "404") and code != "NoSuchBucket":
                raise _Absent from None
            if code == "InvalidRange" or status == "416":
                raise _PastEnd from None
            raise self._error(action, key, code or status) from None
        except botocore.exceptions.NoCredentialsError:
            raise StateError(f"cannot {action} {self._where(key)}: no AWS credentials found",
                             fix="give the runner credentials (an OIDC role in CI, AWS_PROFILE or the instance role locally)") from None
        except botocore.exceptions.EndpointConnectionError:
            raise StateError(f"cannot {action} {self._where(key)}: the S3 endpoint does not answer",
                             fix="check the network, the region, and AWS_ENDPOINT_URL or the environment's state_endpoint") from None
        except botocore.exceptions.BotoCoreError as error:
            raise StateError(f"cannot {action} {self._where(key)}: {type(error).__name__}",
                             fix="check the network, the AWS configuration and the environment's state location") from None

    def _error(self, action: str, key: str, code: str) -> StateError:
        where = self._where(key)
        if code == "NoSuchBucket":
            return StateError(f"cannot {action} {where}: bucket {self.bucket!r} does not exist",
                              fix="create the bucket (versioning on) or fix the environment's state = \"s3://bucket/prefix\"")
        if code in _CREDENTIALS:
            return StateError(f"cannot {action} {where}: access denied ({code})",
                              fix="check the runner's AWS credentials and that its role may s3:GetObject, s3:PutObject, "
                              "s3:DeleteObject and s3:ListBucket on the state prefix (docs/deploy.md, State on S3)")
        if code == "PermanentRedirect" or code == "AuthorizationHeaderMalformed":
            return StateError(f"cannot {action} {where}: the bucket is in another region ({code})",
                              fix="set the environment's state_region (or AWS_REGION) to the bucket's region")
        return StateError(f"cannot {action} {where}: S3 answered {code}", fix="check the bucket, the endpoint and this role's S3 rights, then retry")


class _HeldLock:
    """One acquisition of an S3 lock: the lock object's key, our owner id and its current ETag."""

    def __init__(self, store: S3Store, key: str, name: str) -> None:
        self.store, self.key, self.name = store, key, name
        self.owner = uuid.uuid4().hex
        self.etag: str | None = None
        self.lost = False
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._mutex = threading.Lock()

    def _body(self) -> bytes:
        body = {"name": self.name, "owner": self.owner, "expires_at": self.store.clock() + self.store.lock_ttl_s}
        return json.dumps(body, sort_keys=True).encode()

    def acquire(self) -> None:
        store = self.store
        deadline, attempt, holder = time.monotonic() + store.lock_wait_s, 0, "another process"
        while True:
            self.etag = store._put(self.key, self._body(), IfNoneMatch="*")
            if self.etag is not None:
                break
            current = store._get(self.key)
            if current is not None:
                expires_at, holder = _lock_holder(current[0])
                if store.clock() >= expires_at:  # its holder died (or is stuck): take it over by its ETag
                    self.etag = store._put(self.key, self._body(), IfMatch=current[1])
                    if self.etag is not None:
                        break
            attempt += 1
            if time.monotonic() >= deadline:
                raise StateError(f"the lock {self.name!r} ({store._where(self.key)}) is still held by {holder} "
                                 f"after waiting {store.lock_wait_s:.0f}s",
                                 fix=f"wait for that process to finish; a dead holder's lock expires {store.lock_ttl_s:.0f}s after its last renewal")
            _backoff(attempt)
        self._beat = threading.Thread(target=self._renew, name=f"s3-lock {self.name}", daemon=True)
        self._beat.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.store.lock_ttl_s / 3):
            with self._mutex:
                if self._stop.is_set() or self.etag is None:
                    return
                try:
                    etag = self.store._put(self.key, self._body(), IfMatch=self.etag)
                except StateError:
                    continue  # a transient error: the next beat retries well before expiry
                if etag is None:
                    self.lost = True  # taken over after an expiry: release reports it
                    return
                self.etag = etag

    def release(self, *, strict: bool) -> None:
        self._stop.set()
        with self._mutex:  # the beat checks _stop under the mutex: it never renews after this
            released = self.etag is not None and not self.lost and self.store._delete(self.key, self.etag)
        if strict and not released:
            raise StateError(f"the lock {self.name!r} ({self.store._where(self.key)}) was taken over while held: "
                             f"it was not renewed within {self.store.lock_ttl_s:.0f}s",
                             fix="check the runner's clock and network; rerun the command")


def _lock_holder(raw: bytes) -> tuple[float, str]:
    """(expiry, owner) of a lock object; an unreadable one counts as expired, so it can never block forever."""
    try:
        body = json.loads(raw)
        return float(body["expires_at"]), f"lock owner {str(body['owner'])[:12]}"
    except (ValueError, KeyError, TypeError):
        return 0.0, "an unreadable lock object"


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(0.5, 0.01 * 2 ** min(attempt, 8))))


def _make_client(endpoint_url: str | None, region: str | None) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


class _NotSwapped(Exception):
    def __init__(self, *, conflict: bool = False) -> None:
        super().__init__()
        self.conflict = conflict


class _Absent(Exception):
    """The object does not exist (internal: ``read`` answers None)."""


class _PastEnd(Exception):
    """A ranged read started past the object's end (internal: ``read`` answers b"")."""
