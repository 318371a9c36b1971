"""The shared S3 cache against a real S3 API over HTTP (moto's server on 127.0.0.1), never a patch."""

from __future__ import annotations

import hashlib
import http.server
import json
import multiprocessing
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphbuild.cache.definition import ActionKey, CachedResult
from graphbuild.cache.layered import _is_writer
from graphbuild.cache.remote import CircuitBreaker, S3Cache, sign
from graphbuild.run.action import Outcome
from graphbuild.run.runner import TestRequest, run_tests
from graphbuild.run.scheduler import RunOptions
from graphbuild.testing import FakeRule, GitWorkspace, Registry
from graphbuild.workspace import RemoteCacheSettings

REGISTRY = Registry([FakeRule()])
KEY = "a-signing-key-for-tests-only"
FILES = {
    "a/BUILD": 'fake_target(provides=["s:a"])',
    "a/a.txt": "ARTIFACT report of a",
    "b/BUILD": 'fake_target(provides=["s:b"], requires=["s:a"])',
    "b/b.txt": "PRINT checked b",
    "c/BUILD": 'fake_target(requires=["s:b"])',
    "c/c.txt": "ARTIFACT report of c",
    "d/BUILD": "fake_target()",
    "d/d.txt": "fine",
}


class Quiet:
    def planned(self, actions): ...
    def started(self, actions): ...
    def finished(self, result): ...


def _settings(endpoint: str, bucket: str, **extra: str) -> str:
    lines = [f'url = "s3://{bucket}/graphbuild"', f'endpoint_url = "{endpoint}"', 'region = "us-east-1"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    return "[cache.remote]\n" + "\n".join(lines) + "\n"


@pytest.fixture
def bucket(s3_endpoint, aws_credentials, monkeypatch):
    monkeypatch.setenv("GRAPHBUILD_CACHE_HMAC_KEY", KEY)
    for name in ("CI", "GITHUB_EVENT_NAME", "GITHUB_REF_NAME", "GITHUB_REF", "GRAPHBUILD_REMOTE_CACHE"):
        monkeypatch.delenv(name, raising=False)
    name = f"cache-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3(s3_endpoint, aws_credentials):
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


def workspace(root: Path, endpoint: str, bucket: str, files=FILES, **extra: str) -> GitWorkspace:
    ws = GitWorkspace(root, settings=_settings(endpoint, bucket, **extra))
    ws.write(files)
    ws.commit()
    return ws


def clone(ws: GitWorkspace, root: Path) -> GitWorkspace:
    subprocess.run(["git", "clone", "-q", str(ws.root), str(root)], check=True)
    return GitWorkspace(root)


def run(ws: GitWorkspace, mode: str = "auto", **options):
    with ws.session(registry=REGISTRY) as session:
        return run_tests(session, TestRequest(remote_cache=mode, options=RunOptions(jobs=2, **options)), Quiet())


def objects(s3, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_a_fresh_clone_with_an_empty_cache_gets_every_result_from_the_remote(tmp_path, s3_endpoint, bucket, s3):
    writer = workspace(tmp_path / "ci", s3_endpoint, bucket)
    first = run(writer, "write")
    assert first.is_success and first.cached == 0 and first.cache_stats.uploads == 8  # 4 results, 4 verdicts
    assert first.cache_stats.bytes_up > 0
    laptop = clone(writer, tmp_path / "laptop")
    assert not (laptop.root / "cache").exists()
    second = run(laptop, "read")
    stats = second.cache_stats
    assert second.is_success and second.cached == 4 and stats.remote_hits == 4 and stats.misses == 0
    assert stats.bytes_down > 0 and not stats.rejected
    logs = {str(r.action.label): r.outcome.log for r in first.results}
    assert {str(r.action.label): r.outcome.log for r in second.results} == logs
    artifacts = [d for r in second.results for d in r.outcome.artifacts.values()]
    assert len(artifacts) == 2
    for digest in artifacts:  # artifacts came down into the local content-addressed store
        blob = laptop.root / "cache" / "actions" / "cas" / digest[7:9] / digest[7:]
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == digest[7:]
    third = run(laptop, "read")
    assert third.cache_stats.local_hits == 4 and third.cache_stats.remote_hits == 0 and third.cache_stats.bytes_down == 0


def _ac_objects(s3, bucket):
    found = {}
    for key in objects(s3, bucket):
        if "/ac/" in key:
            body = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            if not body["action"].endswith("#tested"):  # verdicts are checked by the deploy tests
                found[body["action"].split("#")[0]] = (key, body)
    return found


def test_corrupt_blob_forged_or_unsigned_result_and_missing_blob_are_reported_misses(tmp_path, s3_endpoint, bucket, s3):
    writer = workspace(tmp_path / "ci", s3_endpoint, bucket)
    run(writer, "write")
    entries = _ac_objects(s3, bucket)
    # //a:a: its artifact blob is corrupted in place
    a_key, a_body = entries["//a:a"]
    digest = a_body["artifacts"]["artifact0"].removeprefix("sha256:")
    s3.put_object(Bucket=bucket, Key=f"graphbuild/cas/{digest}", Body=b"tampered")
    # //b:b: forged (summary changed, old signature kept)
    b_key, b_body = entries["//b:b"]
    s3.put_object(Bucket=bucket, Key=b_key, Body=json.dumps({**b_body, "summary": "all good, trust me"}).encode())
    # //c:c: its referenced blob is gone
    c_key, c_body = entries["//c:c"]
    s3.delete_object(Bucket=bucket, Key="graphbuild/cas/" + c_body["artifacts"]["artifact0"].removeprefix("sha256:"))
    # //d:d: unsigned
    d_key, d_body = entries["//d:d"]
    s3.put_object(Bucket=bucket, Key=d_key, Body=json.dumps({k: v for k, v in d_body.items() if k != "signature"}).encode())

    laptop = clone(writer, tmp_path / "laptop")
    result = run(laptop, "read")
    assert result.is_success and result.cached == 0 and result.cache_stats.remote_hits == 0
    reasons = sorted(why for _, why in result.cache_stats.rejected)
    assert len(reasons) == 4
    assert sum("does not match its digest" in r for r in reasons) == 2  # corrupt and missing blobs
    assert sum("signature does not verify" in r for r in reasons) == 1
    assert sum(r == "unsigned result" for r in reasons) == 1


def test_a_result_copied_under_another_key_does_not_verify(s3_endpoint, bucket, s3):
    cache = S3Cache(s3, bucket, "p", signing_key=KEY.encode(), is_writer=True)
    result = CachedResult("//x:x#check", Outcome("passed", "ok", "log"), 1.0)
    cache.put(ActionKey("k1"), result)
    assert cache.get(ActionKey("k1")) == result
    body = s3.get_object(Bucket=bucket, Key=f"p/ac/{cache._ac_name('k1')}")["Body"].read()
    s3.put_object(Bucket=bucket, Key=f"p/ac/{cache._ac_name('k2')}", Body=body)
    assert cache.get(ActionKey("k2")) is None
    assert cache.stats.rejected == [("k2", "result signed for another key or not a pass")]


def test_another_key_or_salt_trusts_nothing(s3_endpoint, bucket, s3):
    writer = S3Cache(s3, bucket, "p", signing_key=KEY.encode(), salt="2026-11", is_writer=True)
    writer.put(ActionKey("k"), CachedResult("//x:x#check", Outcome("passed", "ok", "log"), 1.0))
    assert S3Cache(s3, bucket, "p", signing_key=KEY.encode(), salt="2026-11").get(ActionKey("k")) is not None
    resalted = S3Cache(s3, bucket, "p", signing_key=KEY.encode(), salt="2026-12")
    assert resalted.get(ActionKey("k")) is None and not resalted.stats.rejected  # disowned: a plain miss
    other = S3Cache(s3, bucket, "p", signing_key=b"another key", salt="2026-11")
    assert other.get(ActionKey("k")) is None and "signature" in other.stats.rejected[0][1]


def test_a_read_only_client_uploads_nothing_and_failures_are_never_uploaded(tmp_path, s3_endpoint, bucket, s3):
    laptop = workspace(tmp_path / "laptop", s3_endpoint, bucket)
    result = run(laptop, "auto")  # not CI: read only
    assert result.is_success and result.cache_stats.uploads == 0
    assert objects(s3, bucket) == []
    ci = workspace(tmp_path / "ci", s3_endpoint, bucket, files={**FILES, "d/d.txt": "FAIL broken on purpose"})
    failed = run(ci, "write", keep_going=True)
    assert not failed.is_success and failed.cache_stats.uploads == 6  # 3 passes and their targets' verdicts
    assert "//d:d" not in _ac_objects(s3, bucket)


@pytest.mark.parametrize(
    ("environ", "writes"),
    [
        ({}, False),  # a laptop
        ({"CI": "true", "GITHUB_REF_NAME": "main", "GITHUB_EVENT_NAME": "push"}, True),
        ({"CI": "true", "GITHUB_REF_NAME": "feature/x", "GITHUB_EVENT_NAME": "push"}, False),
        ({"CI": "true", "GITHUB_REF_NAME": "42/merge", "GITHUB_EVENT_NAME": "pull_request"}, False),
        ({"CI": "true", "GITHUB_REF": "refs/heads/main"}, True),
    ],
)
def test_only_ci_on_a_writer_branch_uploads_by_default(tmp_path, environ, writes):
    settings = RemoteCacheSettings(url="s3://finsight-dev-build-cache/graphbuild")
    assert _is_writer(settings, environ, tmp_path) is writes
    assert _is_writer(settings.model_copy(update={"upload": "never"}), environ, tmp_path) is False


def test_without_the_signing_key_the_remote_is_off_with_a_warning(tmp_path, s3_endpoint, bucket, monkeypatch):
    monkeypatch.delenv("GRAPHBUILD_CACHE_HMAC_KEY")
    ws = workspace(tmp_path / "ws", s3_endpoint, bucket)
    result = run(ws, "write")
    assert result.is_success and result.cache_stats.uploads == 0
    assert any("GRAPHBUILD_CACHE_HMAC_KEY" in w for w in result.cache_stats.warnings)


class _Broken(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_HEAD = do_POST = _answer

    def log_message(self, *args):
        pass


def _server_returning_5xx():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Broken)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _server_that_never_answers():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # accepts connections (the kernel's backlog) and never reads or answers
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("outage", ["5xx", "timeout"])
def test_a_remote_outage_leaves_the_build_green_and_barely_slower(tmp_path, aws_credentials, monkeypatch, outage):
    monkeypatch.setenv("GRAPHBUILD_CACHE_HMAC_KEY", KEY)
    server, endpoint = _server_returning_5xx() if outage == "5xx" else _server_that_never_answers()
    files = {**FILES, **{f"e{i}/BUILD": "fake_target()" for i in range(20)}, **{f"e{i}/e.txt": f"ok {i}" for i in range(20)}}
    try:
        baseline = workspace(tmp_path / "baseline", endpoint, "finsight-dev-build-cache", files=files)
        start = time.monotonic()
        assert run(baseline, "off").is_success
        without_remote = time.monotonic() - start
        ws = workspace(tmp_path / "ws", endpoint, "finsight-dev-build-cache", files=files, read_timeout_s=0.5, connect_timeout_s=0.5)
        start = time.monotonic()
        result = run(ws, "write")
        elapsed = time.monotonic() - start
    finally:
        server.shutdown() if outage == "5xx" else server.close()
    assert result.is_success and result.count("passed") == 24
    stats = result.cache_stats
    assert stats.remote_errors >= 1 and stats.remote_hits == 0 and stats.uploads == 0
    assert len([w for w in stats.warnings if "not answering" in w]) == 1  # one warning, not one per action
    # the breaker opened: far fewer remote calls than the 48 lookups and uploads the run would make
    assert stats.remote_errors <= 20
    print(f"{outage}: {elapsed - without_remote:.2f} s slower than without a remote")


def test_the_breaker_opens_after_repeated_failures_then_lets_one_call_through():
    now = [0.0]
    opened = []
    breaker = CircuitBreaker(3, 60.0, lambda: opened.append(now[0]), clock=lambda: now[0])
    for _ in range(2):
        breaker.failed()
    assert not breaker.is_open()
    breaker.failed()
    assert breaker.is_open() and opened == [0.0]
    now[0] = 59.0
    assert breaker.is_open()
    now[0] = 60.0
    assert not breaker.is_open()  # half-open: one call may try
    breaker.failed()
    assert breaker.is_open() and opened == [0.0, 60.0]
    now[0] = 121.0
    assert not breaker.is_open()
    breaker.succeeded()
    breaker.failed()
    assert not breaker.is_open()


def _write_many(endpoint: str, bucket: str, worker: int) -> None:
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    cache = S3Cache(client, bucket, "p", signing_key=KEY.encode(), is_writer=True)
    for i in range(15):
        log = f"worker {worker} run {i}\n" * 50
        cache.put(ActionKey("shared-key"), CachedResult("//x:x#check", Outcome("passed", f"w{worker}", log), 0.1 * i))


def test_two_concurrent_writers_of_one_key_leave_one_valid_entry(s3_endpoint, bucket, s3):
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_write_many, args=(s3_endpoint, bucket, n)) for n in (1, 2)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(60)
        assert process.exitcode == 0
    reader = S3Cache(s3, bucket, "p", signing_key=KEY.encode())
    hit = reader.get(ActionKey("shared-key"))
    assert hit is not None and not reader.stats.rejected
    assert hit.outcome.summary in ("w1", "w2") and hit.outcome.log.startswith(f"worker {hit.outcome.summary[1]} ")
    assert len([k for k in objects(s3, bucket) if "/ac/" in k]) == 1


@settings(max_examples=60, deadline=None)
@given(body=st.dictionaries(st.sampled_from(["key", "action", "status", "summary", "log", "artifacts", "duration_s"]),
                            st.one_of(st.text(max_size=20), st.integers(), st.none(), st.lists(st.text(max_size=5))),
                            max_size=7),
       signed=st.booleans())
def test_no_malformed_result_is_ever_a_hit_or_an_error(s3_endpoint, body, signed):
    client = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    bucket = "hypothesis-remote-cache"
    try:
        client.create_bucket(Bucket=bucket)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    cache = S3Cache(client, bucket, "p", signing_key=KEY.encode())
    if signed:
        body = {**body, "signature": sign(KEY.encode(), body)}
    client.put_object(Bucket=bucket, Key=f"p/ac/{cache._ac_name('k')}", Body=json.dumps(body).encode())
    assert cache.get(ActionKey("k")) is None  # no log blob exists, so nothing here can be a hit
    assert len(cache.stats.rejected) == 1


def test_a_result_copied_under_another_salts_name_does_not_verify(s3_endpoint, bucket, s3):
    """Drill: the salt is signed too: a result moved to the name another salt gives its key is refused."""
    writer = S3Cache(s3, bucket, "p", signing_key=KEY.encode(), salt="2026-11", is_writer=True)
    writer.put(ActionKey("k"), CachedResult("//x:x#check", Outcome("passed", "ok", "log"), 1.0))
    resalted = S3Cache(s3, bucket, "p", signing_key=KEY.encode(), salt="2026-12")
    body = s3.get_object(Bucket=bucket, Key=f"p/ac/{writer._ac_name('k')}")["Body"].read()
    s3.put_object(Bucket=bucket, Key=f"p/ac/{resalted._ac_name('k')}", Body=body)
    assert resalted.get(ActionKey("k")) is None
    assert resalted.stats.rejected == [("k", "signature does not verify (forged, or signed with another key)")]


def _verdicts(root: Path) -> dict[str, dict]:
    found = {}
    for path in (root / "cache" / "actions" / "ac").rglob("*.json"):
        body = json.loads(path.read_text())
        if body["action"].endswith("#tested"):
            found[body["action"]] = {"path": path, **body}
    return found


def test_local_copies_keep_the_remote_signature_and_promotion_trusts_only_signed_verdicts(tmp_path, s3_endpoint, bucket, s3):
    """A laptop's copies of remote results keep their signatures, so promotion verifies them offline; a
    verdict forged into the local cache (bound to its key, digest recomputed, but unsigned or signed with
    another key) is not trusted: promotion asks the remote, which has no such verdict."""
    from graphbuild.cache.layered import open_cache
    from graphbuild.cache.local import LocalCache
    from graphbuild.values import canonical_json

    writer = workspace(tmp_path / "ci", s3_endpoint, bucket)
    assert run(writer, "write").is_success
    laptop = clone(writer, tmp_path / "laptop")
    assert run(laptop, "read").cache_stats.remote_hits == 4
    verdicts = _verdicts(laptop.root)
    assert len(verdicts) == 4 and all(v.get("signature") for v in verdicts.values())

    with laptop.session(registry=REGISTRY) as session:
        cache = open_cache(session.workspace, "read")
        keys = {v["action"]: ActionKey(v["key"]) for v in verdicts.values()}
        assert all(cache.get_verified(key) is not None for key in keys.values())
        assert cache.stats.bytes_down == 0  # verified from the local copies alone
        cache.flush()

    victim = verdicts["//d:d#tested"]
    forged = {k: v for k, v in victim.items() if k not in ("path", "digest", "signature")}
    forged["signature"] = sign(b"a key the attacker made up", {k: forged[k] for k in forged if k != "signature"}, "")
    forged["digest"] = hashlib.sha256(canonical_json(forged).encode()).hexdigest()
    s3.delete_object(Bucket=bucket, Key=f"graphbuild/ac/{S3Cache(s3, bucket, 'graphbuild', signing_key=b'')._ac_name(victim['key'])}")
    victim["path"].write_text(json.dumps(forged))
    assert LocalCache(laptop.root / "cache" / "actions").get(ActionKey(victim["key"])) is not None  # a run would replay it ...
    with laptop.session(registry=REGISTRY) as session:
        cache = open_cache(session.workspace, "read")
        assert cache.get_verified(ActionKey(victim["key"])) is None  # ... promotion does not trust it
        assert cache.get_verified(keys["//a:a#tested"]) is not None
        cache.flush()
