"""The layered cache: local first, then the shared remote; a remote hit is kept locally.

A delegation, not a new cache: reads try the local cache, then the remote (whose hits are written
into the local cache so the next run is local, with the remote's signature); writes go to the local
cache at once (signed, when the signing key is known) and to the remote in the background (only when
the remote client is a writer). ``flush`` waits for uploads. ``get_verified`` is the read a
promotion makes: with a remote, only a result whose signature verifies counts.

>>> # cache = LayeredCache(LocalCache(path), S3Cache(client, "bucket", "prefix", signing_key=key))
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

from graphbuild.cache.definition import ActionKey, CachedResult
from graphbuild.cache.local import LocalCache
from graphbuild.cache.remote import CacheStats, CircuitBreaker, S3Cache
from graphbuild.errors import GraphbuildError
from graphbuild.secrets import SecretRef, resolve
from graphbuild.workspace import RemoteCacheSettings, Workspace

__all__ = ["LayeredCache", "RemoteMode", "open_cache"]


class LayeredCache:
    def __init__(self, local: LocalCache, remote: S3Cache | None, stats: CacheStats | None = None) -> None:
        self.local, self.remote = local, remote
        self.stats = stats or (remote.stats if remote is not None else CacheStats())
        self._uploads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="graphbuild-upload")
        self._pending: list[Future[None]] = []

    @property
    def corrupt(self) -> list[str]:
        return self.local.corrupt

    def get(self, key: ActionKey) -> CachedResult | None:
        hit = self.local.get(key)
        if hit is not None:
            self.stats.add(local_hits=1)
            return hit
        if self.remote is None:
            self.stats.add(misses=1)
            return None
        return self._from_remote(key)

    def contains(self, key: ActionKey) -> bool:
        """Whether the local cache holds ``key`` (the remote is not asked)."""
        return self.local.contains(key)

    def get_many(self, keys: list[ActionKey]) -> list[CachedResult | None]:
        """``get`` for many keys: the local cache in turn, then the remote's misses concurrently."""
        found = [self.local.get(key) for key in keys]
        self.stats.add(local_hits=sum(hit is not None for hit in found))
        missing = [i for i, hit in enumerate(found) if hit is None]
        if self.remote is None:
            self.stats.add(misses=len(missing))
            return found
        with ThreadPoolExecutor(max_workers=16, thread_name_prefix="graphbuild-lookup") as pool:
            for i, fetched in zip(missing, pool.map(self._from_remote, (keys[i] for i in missing))):
                found[i] = fetched
        return found

    def _from_remote(self, key: ActionKey) -> CachedResult | None:
        assert self.remote is not None
        found = self.remote.fetch(key)
        if found is None:
            self.stats.add(misses=1)
            return None
        result, blobs, signature = found
        for data in blobs.values():
            self.local.put_blob(data)
        self.local.put(key, result, signature=signature)
        self.stats.add(remote_hits=1)
        return result

    def get_blob(self, digest: str) -> bytes | None:
        data = self.local.get_blob(digest)
        if data is None and self.remote is not None:
            data = self.remote.get_blob(digest)
            if data is not None:
                self.local.put_blob(data)
        return data

    def put_blob(self, data: bytes) -> str:
        return self.local.put_blob(data)

    def get_verified(self, key: ActionKey) -> CachedResult | None:
        """A result whose binding to ``key`` is proven: by its signature when a remote (so a signing key) is
        configured, else by the key its local entry records. An unsigned or forged local entry is not
        trusted: the remote is asked, and its verified answer replaces the local entry."""
        if self.remote is None:
            return self.local.get(key)
        record = self.local.record(key)
        if record is not None and self.remote.verifies(key, record):
            return self.local.get(key)
        return self._from_remote(key)

    def put(self, key: ActionKey, result: CachedResult) -> None:
        remote = self.remote
        self.local.put(key, result, sign=None if remote is None else lambda fields: remote.signature_of(key, fields))
        if self.remote is not None and self.remote.is_writer:
            self._pending.append(self._uploads.submit(self._upload, key, result))

    def _upload(self, key: ActionKey, result: CachedResult) -> None:
        assert self.remote is not None
        for digest in result.outcome.artifacts.values():
            data = self.local.get_blob(str(digest).removeprefix("sha256:"))
            if data is not None:
                self.remote.put_blob(data)
        self.remote.put(key, result)

    def flush(self) -> None:
        """Wait for the background uploads (their failures are counted, never raised)."""
        for future in self._pending:
            future.exception()
        self._pending.clear()
        self._uploads.shutdown(wait=True)

    def evict(self) -> int:
        """Bound the local cache, when this run stored anything in it (a no-op run walks no folder)."""
        return self.local.evict() if self.local.written else 0


RemoteMode = Literal["auto", "read", "write", "off"]


def open_cache(workspace: Workspace, mode: RemoteMode = "auto", environ: Mapping[str, str] | None = None) -> LayeredCache:
    """The workspace's cache: the local folder, plus the remote its settings name when it can be trusted.

    Without the signing key the remote is off (with a warning): unsigned results are never trusted.
    ``mode`` overrides the settings' upload policy: ``read`` never uploads, ``off`` skips the remote.
    """
    environ = os.environ if environ is None else environ
    settings = workspace.settings.cache
    local = LocalCache(workspace.cache_dir / "actions", settings.max_size_mb * 1024**2)
    stats = CacheStats()
    remote_settings = settings.remote
    if remote_settings is None or mode == "off" or environ.get("GRAPHBUILD_REMOTE_CACHE") == "off":
        return LayeredCache(local, None, stats)
    try:
        key = resolve(SecretRef.parse(remote_settings.hmac_key), environ=environ).encode()
    except GraphbuildError as exc:
        stats.warn(f"remote cache off: {exc.message} ({exc.fix})")
        return LayeredCache(local, None, stats)
    bucket, _, prefix = remote_settings.url.removeprefix("s3://").partition("/")
    writer = mode == "write" or (mode == "auto" and _is_writer(remote_settings, environ, workspace.root))
    remote = S3Cache(
        _client(remote_settings),
        bucket,
        prefix,
        signing_key=key,
        salt=remote_settings.salt,
        is_writer=writer,
        stats=stats,
    )
    remote.breaker = CircuitBreaker(remote_settings.failure_threshold, remote_settings.cooldown_s, remote._opened)
    return LayeredCache(local, remote, stats)


def _client(settings: RemoteCacheSettings) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=settings.connect_timeout_s,
        read_timeout=settings.read_timeout_s,
        retries={"total_max_attempts": 2, "mode": "standard"},
        max_pool_connections=16,
    )
    return boto3.client("s3", region_name=settings.region, endpoint_url=settings.endpoint_url, config=config)


def _is_writer(settings: RemoteCacheSettings, environ: Mapping[str, str], root: Path) -> bool:
    """upload=auto: CI (``CI=true``) on a writer branch uploads; pull requests and laptops read only."""
    if settings.upload != "auto":
        return settings.upload == "always"
    if environ.get("CI", "").lower() not in ("true", "1"):
        return False
    if environ.get("GITHUB_EVENT_NAME", "").startswith("pull_request"):
        return False
    branch = environ.get("GITHUB_REF_NAME") or environ.get("GITHUB_REF", "").removeprefix("refs/heads/")
    if not branch:
        done = subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=root, capture_output=True, text=True)
        branch = done.stdout.strip()
    return branch in settings.writer_branches
