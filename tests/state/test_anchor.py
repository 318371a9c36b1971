"""The audit trail anchored in an Object Lock bucket with signed digests, over moto's S3 server (HTTP).

The drills play an attacker who can write the state store (and the audit bucket, as the deployer can)
but cannot change the public keys committed in the repository nor a COMPLIANCE-locked object.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphbuild.cli import main
from graphbuild.envs import AuditAnchor, Environment, EnvironmentSettings
from graphbuild.errors import ConfigError, StateError
from graphbuild.state import AuditLog, Journal, Leases, LocalStore, Pointer, Pointers
from graphbuild.state.anchor import _check_digest, generate_key, open_audit, verify_anchored
from graphbuild.state.audit import GENESIS, AuditRecord
from graphbuild.state.crosscheck import cross_check
from graphbuild.testing import GitWorkspace
from graphbuild.values import canonical_json

KEY_VARIABLE = "GRAPHBUILD_TEST_AUDIT_SIGNING_KEY"


@pytest.fixture
def s3(s3_endpoint, aws_credentials, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    return boto3.client("s3", endpoint_url=s3_endpoint)


@pytest.fixture
def keys(monkeypatch) -> tuple[str, str]:
    private, public = generate_key()
    monkeypatch.setenv(KEY_VARIABLE, private)
    return private, public


def _bucket(s3) -> str:
    name = f"audit-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def _env(tmp_path: Path, bucket: str, public: str, *, digest_every: int = 100) -> Environment:
    audit = AuditAnchor(bucket=f"s3://{bucket}/prod", retention_days=1, digest_every=digest_every,
                        signing_key=f"env:{KEY_VARIABLE}", key_id="prod-2026", public_keys={"prod-2026": public})
    settings = EnvironmentSettings(backend_dir="local/prod", audit=audit)
    return Environment("prod", settings, tmp_path, "environments/prod.toml")


def _fill(log: AuditLog, n: int) -> list[AuditRecord]:
    """``n`` records; a deploy ends after record 5 (so a digest is signed there)."""
    made = []
    for seq in range(1, n + 1):
        event, result = ("deploy", "succeeded") if seq == 5 else ("step", "applied")
        made.append(log.append(event, actor="ci", env="prod", plan_id="p1", result=result, details={"n": seq}))
    return made


def _rewrite_log(store: LocalStore, records: list[AuditRecord]) -> None:
    """What an attacker with write access to the state store does: a valid-looking log and head."""
    lines = "".join(r.line() + "\n" for r in records).encode()
    store.write("audit/log.jsonl", lines)
    last = records[-1]
    offset = len(lines) - len(last.line()) - 1
    store.write("audit/head.json", canonical_json({"seq": last.seq, "hash": last.hash, "offset": offset, "record": last.to_dict()}).encode())


def _rechain(records: list[AuditRecord]) -> list[AuditRecord]:
    out, prev = [], GENESIS
    for r in records:
        body = {**r.to_dict(), "prev": prev}
        body.pop("hash")
        record = AuditRecord.from_dict({**body, "hash": hashlib.sha256(canonical_json(body).encode()).hexdigest()})
        out.append(record)
        prev = record.hash
    return out


def _problems(tmp_path, store, env):
    problems, counts = verify_anchored(AuditLog(store).records(), env)
    return problems, counts


def test_every_record_is_anchored_locked_and_digested(tmp_path, s3, keys):
    bucket = _bucket(s3)
    env = _env(tmp_path, bucket, keys[1], digest_every=4)
    store = LocalStore(tmp_path / "state")
    records = _fill(open_audit(store, env), 10)
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert [k for k in listed if "/records/" in k] == [f"prod/records/{r.seq:012d}-{r.hash}.json" for r in records]
    # a digest after 4 records, one when the deploy ended at 5, one after 4 more
    assert [k.split("-")[0] for k in listed if "/digests/" in k] == ["prod/digests/000000000004", "prod/digests/000000000005",
                                                                      "prod/digests/000000000009"]
    key = f"prod/records/{records[0].seq:012d}-{records[0].hash}.json"
    head = s3.head_object(Bucket=bucket, Key=key)  # moto 5's GetObjectRetention answers 500 over its server
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ObjectLockRetainUntilDate"] > datetime.now(UTC)
    assert json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) == records[0].to_dict()
    problems, counts = _problems(tmp_path, store, env)
    assert problems == [] and counts == {"anchored": 10, "digests": 3}


def test_drill_truncating_the_last_three_records_and_rechaining_is_detected(tmp_path, s3, keys):
    env = _env(tmp_path, _bucket(s3), keys[1])
    store = LocalStore(tmp_path / "state")
    records = _fill(open_audit(store, env), 10)
    _rewrite_log(store, records[:7])  # the head now names record 7: the local chain is intact
    assert AuditLog(store).verify().ok
    problems, _ = _problems(tmp_path, store, env)
    assert problems == [(8, "records 8..10 are anchored but missing from the log (truncated or deleted)")]
    # and then appending fresh records in their place (graphbuild's own code, without the anchor)
    AuditLog(store).append("deploy", actor="mallory", env="prod", plan_id="p9", result="succeeded")
    assert AuditLog(store).verify().ok
    problems, _ = _problems(tmp_path, store, env)
    assert problems[0] == (8, "differs from its anchored copy in s3://" + env.settings.audit.bucket.removeprefix("s3://")
                           + " (rewritten after it was anchored)")
    assert (9, "records 9..10 are anchored but missing from the log (truncated or deleted)") in problems


def test_drill_rewriting_one_record_and_recomputing_the_chain_is_detected(tmp_path, s3, keys):
    env = _env(tmp_path, _bucket(s3), keys[1])
    store = LocalStore(tmp_path / "state")
    records = _fill(open_audit(store, env), 8)
    edited = AuditRecord.from_dict({**records[3].to_dict(), "details": {"n": 4, "approved_by": "mallory"}})
    forged = _rechain([*records[:3], edited, *records[4:]])
    _rewrite_log(store, forged)
    assert AuditLog(store).verify().ok  # the hash chain alone cannot tell
    problems, _ = _problems(tmp_path, store, env)
    flagged = sorted({where for where, what in problems if "differs from its anchored copy" in what})
    assert flagged == [4, 5, 6, 7, 8]  # the edited record and every re-chained one after it
    assert not any("signed digest" in what for _, what in problems)  # the anchored copies still match the digest
    assert not any(where in (1, 2, 3) for where, _ in problems)


def test_drill_deleting_the_state_stores_log_is_detected(tmp_path, s3, keys):
    env = _env(tmp_path, _bucket(s3), keys[1])
    store = LocalStore(tmp_path / "state")
    _fill(open_audit(store, env), 6)
    for name in ("log.jsonl", "head.json", "anchor.json"):
        (tmp_path / "state" / "audit" / name).unlink()
    assert AuditLog(store).verify().ok  # an empty trail is a valid trail
    problems, _ = _problems(tmp_path, store, env)
    assert problems == [(1, "records 1..6 are anchored but missing from the log (truncated or deleted)")]


def _forge_digest(s3, bucket: str, key_id: str, private_pem: str, first: int, last: int) -> str:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    body = {"version": 1, "key_id": key_id, "time": "2026-12-06T00:00:00Z", "from_seq": first, "to_seq": last,
            "records": [[seq, "f" * 64] for seq in range(first, last + 1)], "previous": None}
    signature = load_pem_private_key(private_pem.encode(), None).sign(canonical_json(body).encode())
    data = canonical_json({"body": body, "signature": base64.b64encode(signature).decode()}).encode()
    key = f"digests/{last:012d}-{hashlib.sha256(data).hexdigest()[:16]}.json"
    s3.put_object(Bucket=bucket, Key=f"prod/{key}", Body=data, IfNoneMatch="*")
    return key


def test_drill_a_digest_forged_with_the_attackers_own_key_is_detected(tmp_path, s3, keys):
    bucket = _bucket(s3)
    env = _env(tmp_path, bucket, keys[1])
    store = LocalStore(tmp_path / "state")
    _fill(open_audit(store, env), 7)
    mallory, _ = generate_key()
    forged = _forge_digest(s3, bucket, "mallory-1", mallory, 6, 7)
    problems, counts = _problems(tmp_path, store, env)
    assert problems == [(6, f"digest {forged} is signed by unknown key 'mallory-1' (not under [audit.public_keys]): forged")]
    assert counts["digests"] == 1  # the genuine one, over records 1..5
    # the same forgery under the genuine key's id fails its signature
    forged = _forge_digest(s3, bucket, "prod-2026", mallory, 8, 8)
    problems, _ = _problems(tmp_path, store, env)
    assert (8, f"digest {forged}: its signature does not verify with key 'prod-2026': forged or altered") in problems
    # and the writer never chains a new digest to a forged one: the next deploy's digest follows 1..5
    log = open_audit(store, env)
    log.append("step", actor="ci", env="prod", plan_id="p2", result="applied")
    log.append("deploy", actor="ci", env="prod", plan_id="p2", result="succeeded")
    problems, counts = _problems(tmp_path, store, env)
    assert counts["digests"] == 2 and not any("chain" in what for _, what in problems)
    assert len(problems) == 2  # the two forgeries, still reported


def test_drill_the_compliance_bucket_refuses_rewrites_and_deletes(tmp_path, s3, keys):
    bucket = _bucket(s3)
    env = _env(tmp_path, bucket, keys[1])
    store = LocalStore(tmp_path / "state")
    records = _fill(open_audit(store, env), 3)
    key = f"prod/records/{records[1].seq:012d}-{records[1].hash}.json"
    version = s3.head_object(Bucket=bucket, Key=key)["VersionId"]
    with pytest.raises(botocore.exceptions.ClientError) as denied:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError) as denied:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=True)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"  # COMPLIANCE: no bypass
    batch = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key, "VersionId": version}]})
    assert [e["Code"] for e in batch["Errors"]] == ["AccessDenied"]
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        s3.put_object(Bucket=bucket, Key=key, Body=b"{}", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    with pytest.raises(botocore.exceptions.ClientError) as full:
        s3.delete_bucket(Bucket=bucket)
    assert full.value.response["Error"]["Code"] == "BucketNotEmpty"
    # S3 allows a new version over the key and a delete marker on it: the locked version stays, verify says so
    s3.put_object(Bucket=bucket, Key=key, Body=b"{}")
    s3.delete_object(Bucket=bucket, Key=key)
    assert json.loads(s3.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read()) == records[1].to_dict()
    problems, _ = _problems(tmp_path, store, env)
    assert (2, "its anchored copy was overwritten (a second version; the first one stands)") in problems
    assert (2, "its anchored copy was deleted (a delete marker hides it; the locked version remains)") in problems


def test_moto_does_not_enforce_compliance_retention_changes(tmp_path, s3, keys):
    """Real S3 refuses to shorten a COMPLIANCE retention or change its mode; moto 5 accepts both (a gap
    of the test server, not of the design): this asserts what moto does so the gap stays visible."""
    bucket = _bucket(s3)
    env = _env(tmp_path, bucket, keys[1])
    record = _fill(open_audit(LocalStore(tmp_path / "state"), env), 1)[0]
    key = f"prod/records/{record.seq:012d}-{record.hash}.json"
    version = s3.head_object(Bucket=bucket, Key=key)["VersionId"]
    try:
        s3.put_object_retention(Bucket=bucket, Key=key, VersionId=version,
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": "2026-01-01T00:00:00Z"})
    except botocore.exceptions.ClientError as exc:  # what real S3 answers
        assert exc.response["Error"]["Code"] in ("AccessDenied", "InvalidRequest")
    else:
        assert s3.head_object(Bucket=bucket, Key=key, VersionId=version)["ObjectLockMode"] == "GOVERNANCE"


def test_anchoring_fails_closed_and_catches_up(tmp_path, s3, keys):
    env = _env(tmp_path, f"audit-missing-{uuid.uuid4().hex[:8]}", keys[1])
    store = LocalStore(tmp_path / "state")
    log = open_audit(store, env)
    with pytest.raises(StateError, match="cannot anchor audit record 1 in s3://audit-missing-.*NoSuchBucket"):
        log.append("deploy", actor="ci", env="prod", result="started")
    assert [r.seq for r in AuditLog(store).records()] == [1]  # kept in the log
    s3.create_bucket(Bucket=env.settings.audit.bucket.removeprefix("s3://").split("/")[0], ObjectLockEnabledForBucket=True)
    log.append("deploy", actor="ci", env="prod", result="succeeded", details={"pointer": "p1"})
    problems, counts = _problems(tmp_path, store, env)
    assert problems == [] and counts == {"anchored": 2, "digests": 1}


def test_the_signing_key_never_appears_in_a_record_log_object_or_output(tmp_path, s3, keys, capsys):
    private, public = keys
    bucket = _bucket(s3)
    env = _env(tmp_path, bucket, public, digest_every=2)
    store = LocalStore(tmp_path / "state")
    _fill(open_audit(store, env), 6)
    body = "".join(private.splitlines()[1:-1])  # the PEM's base64
    needles = [private.encode(), body.encode(), body[:40].encode()]
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file():
            assert not any(n in path.read_bytes() for n in needles), path
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert len(versions) >= 9
    for v in versions:
        data = s3.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
        assert not any(n in data for n in needles), v["Key"]
    out, err = capsys.readouterr()
    assert not any(n.decode() in out + err for n in needles)
    # a pasted private key in the settings is refused without echoing it
    with pytest.raises(ConfigError) as refused:
        AuditAnchor(bucket="s3://b1/p", signing_key=private, key_id="k", public_keys={"k": public})
    assert body[:40] not in str(refused.value)


def test_a_signing_key_that_does_not_match_the_committed_public_key_is_refused(tmp_path, s3, keys):
    _, other_public = generate_key()
    env = _env(tmp_path, _bucket(s3), other_public)
    log = open_audit(LocalStore(tmp_path / "state"), env)
    with pytest.raises(StateError, match="does not match the committed public key 'prod-2026'"):
        log.append("deploy", actor="ci", env="prod", result="succeeded")


def test_cross_check_finds_journals_approvals_and_pointer_moves_the_trail_lacks(tmp_path):
    store = LocalStore(tmp_path / "state")
    log = AuditLog(store)
    lease = Leases(store).acquire("prod", "ci@runner", ttl_s=60)
    log.append("deploy", actor="ci", env="prod", plan_id="p1", result="started")
    Journal(store, "prod", "p1-0").record("k1", "started", lease)  # journals are named <plan>-<attempt>
    Journal(store, "prod", "p1-0").record("k1", "succeeded", lease)
    log.append("step", actor="ci", env="prod", plan_id="p1", result="applied", details={"key": "k1"})
    Pointers(store).move("prod", None, Pointer("prod", "p1", "c0ffee", moved_by="ci"), lease)
    log.append("deploy", actor="ci", env="prod", plan_id="p1", result="succeeded", details={"pointer": "p1"})
    store.create("approvals/p1/dana.json", json.dumps({"plan_id": "p1", "env": "prod", "by": "dana"}).encode())
    log.append("approval", actor="dana", env="prod", plan_id="p1", result="approved")
    assert cross_check(store, "prod", log.records()) == []
    # a deploy outside graphbuild: journal, approval and pointer move with no audit record
    Journal(store, "prod", "p2-0").record("k2", "succeeded", lease)
    store.create("approvals/p2/mallory.json", json.dumps({"plan_id": "p2", "env": "prod", "by": "mallory"}).encode())
    Pointers(store).move("prod", "p1", Pointer("prod", "p2", "beef42", moved_by="mallory"), lease)
    assert cross_check(store, "prod", log.records()) == [
        ("journal p2", "a deploy of plan p2 ran in prod with no audited start"),
        ("journal p2", "step k2 of plan p2 succeeded with no audit record"),
        ("approval p2", "mallory's approval of plan p2 has no audit record"),
        ("pointer move 2", "prod was pointed at plan p2 with no audited deploy or rollback"),
    ]


DEV = """\
description = "Development."
state = "state"
backend_dir = "local/dev"
[audit]
bucket = "s3://{bucket}/dev"
retention_days = 1
signing_key = "env:{variable}"
key_id = "dev-2026"
[audit.public_keys]
dev-2026 = "{public}"
"""


def test_cli_deploy_anchors_and_audit_verify_detects_a_truncated_head(tmp_path, s3, keys, capsys, monkeypatch):
    bucket = _bucket(s3)
    ws = GitWorkspace(tmp_path / "ws", '[workspace]\nignore = ["environments/**", ".gitignore"]\n')
    ws.write({".gitignore": "/state/\n/local/\n/cache/\n.graphbuild-durations.json\n",
              "environments/dev.toml": DEV.format(bucket=bucket, variable=KEY_VARIABLE, public=keys[1])})
    ws.commit("base")
    monkeypatch.setenv("GRAPHBUILD_ACTOR", "li.wei")
    root = str(ws.root)
    assert main(["-C", root, "deploy", "--env", "dev"]) == 0, capsys.readouterr()
    capsys.readouterr()
    assert main(["-C", root, "--format", "json", "audit", "verify", "--env", "dev"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["records"] == 3 and report["anchored"] == 3 and report["digests"] == 1
    store = LocalStore(ws.root / "state")
    _rewrite_log(store, AuditLog(store).records()[:2])
    assert main(["-C", root, "audit", "verify", "--env", "dev"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("TAMPERED") and "3: record 3 is anchored but missing from the log" in out


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(2, 9), data=st.data())
def test_any_truncation_or_rechained_edit_is_named_by_its_seq(tmp_path_factory, s3, keys, n, data):
    tmp_path = tmp_path_factory.mktemp("anchor")
    env = _env(tmp_path, _bucket(s3), keys[1], digest_every=3)
    store = LocalStore(tmp_path / "state")
    records = _fill(open_audit(store, env), n)
    if data.draw(st.booleans(), label="truncate"):
        keep = data.draw(st.integers(1, n - 1), label="keep")
        _rewrite_log(store, records[:keep])
        expected = keep + 1
    else:
        at = data.draw(st.integers(0, n - 1), label="edit")
        edited = AuditRecord.from_dict({**records[at].to_dict(), "actor": "mallory"})
        _rewrite_log(store, _rechain([*records[:at], edited, *records[at + 1:]]))
        expected = at + 1
    assert AuditLog(store).verify().ok
    problems, _ = _problems(tmp_path, store, env)
    assert problems and min(where for where, _ in problems if isinstance(where, int)) == expected


@given(st.binary(max_size=300) | st.builds(lambda v: json.dumps(v).encode(), st.recursive(
    st.none() | st.integers() | st.text(max_size=8), lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4))))
def test_a_garbage_digest_is_a_problem_never_a_crash(data):
    problems, _ = _check_digest("digests/000000000001-0000000000000000.json", data, {"k": base64.b64encode(b"\0" * 32).decode()})
    assert problems


def test_a_lost_or_edited_bookmark_neither_skips_nor_forks_anything(tmp_path, s3, keys):
    env = _env(tmp_path, _bucket(s3), keys[1], digest_every=3)
    store = LocalStore(tmp_path / "state")
    log = open_audit(store, env)
    _fill(log, 7)
    (tmp_path / "state" / "audit" / "anchor.json").unlink()  # lost: rebuilt from the log and the bucket
    log.append("deploy", actor="ci", env="prod", plan_id="p2", result="succeeded")
    store.write("audit/anchor.json", b'{"seq": 8, "pending": [], "digest": {"key": "digests/x", "sha256": 1, "to_seq": "?"}}')
    log.append("step", actor="ci", env="prod", plan_id="p3", result="applied")
    log.append("deploy", actor="ci", env="prod", plan_id="p3", result="succeeded")
    problems, counts = _problems(tmp_path, store, env)
    assert problems == [] and counts["anchored"] == 10


def test_without_a_signing_key_records_are_anchored_and_no_digest_is_written(tmp_path, s3, keys):
    bucket = _bucket(s3)
    env = _env(tmp_path, bucket, keys[1])
    env = Environment("prod", EnvironmentSettings(backend_dir="local/prod", audit=AuditAnchor(bucket=f"s3://{bucket}/prod")), tmp_path, "x")
    store = LocalStore(tmp_path / "state")
    _fill(open_audit(store, env), 6)
    assert json.loads(store.read("audit/anchor.json"))["pending"] == []
    problems, counts = _problems(tmp_path, store, env)
    assert problems == [] and counts == {"anchored": 6, "digests": 0}


def test_a_key_rotation_keeps_one_digest_chain(tmp_path, s3, keys, monkeypatch):
    bucket = _bucket(s3)
    store = LocalStore(tmp_path / "state")
    _fill(open_audit(store, _env(tmp_path, bucket, keys[1])), 5)
    new_private, new_public = generate_key()
    monkeypatch.setenv("GRAPHBUILD_TEST_AUDIT_KEY_2027", new_private)
    audit = AuditAnchor(bucket=f"s3://{bucket}/prod", retention_days=1, signing_key="env:GRAPHBUILD_TEST_AUDIT_KEY_2027",
                        key_id="prod-2027", public_keys={"prod-2026": keys[1], "prod-2027": new_public})
    rotated = Environment("prod", EnvironmentSettings(backend_dir="local/prod", audit=audit), tmp_path, "environments/prod.toml")
    (tmp_path / "state" / "audit" / "anchor.json").unlink()  # and the bookmark lost: the chain is found in the bucket
    log = open_audit(store, rotated)
    log.append("deploy", actor="ci", env="prod", plan_id="p2", result="succeeded")
    problems, counts = _problems(tmp_path, store, rotated)
    assert problems == [] and counts == {"anchored": 6, "digests": 2}
