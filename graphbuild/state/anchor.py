"""The audit trail anchored outside the writer's reach: an Object Lock bucket and signed digests.

Whoever can write the state store can rewrite its audit log and re-chain every hash after the edit;
the hash chain alone cannot tell. So every record is also written, as it is appended, to an S3 bucket
with Object Lock in COMPLIANCE mode (``[audit] bucket``): the key is ``records/<seq>-<hash>.json``,
written with ``If-None-Match: *`` and a retention date ``retention_days`` ahead, so no one (the root
account included) can delete or shorten it before then. Every ``digest_every`` records, and when a
deploy or rollback ends, a digest file (CloudTrail's model) lists the ``[seq, hash]`` of the records
since the previous digest and the sha256 of that digest, signed with ed25519. The private key is a
secret reference (``signing_key``), the public keys are committed in ``environments/<env>.toml``
(``[audit.public_keys]``) and ``verify_anchored`` trusts only those.

A setting such as::

    [audit]
    bucket = "s3://finsight-audit/prod"
    retention_days = 2557                       # 7 years (SOX)
    signing_key = "secret:aws-sm:finsight/prod/audit-signing-key"
    key_id = "prod-2026"
    [audit.public_keys]
    prod-2026 = "base64 of the raw 32-byte ed25519 public key"

>>> split_bucket("s3://finsight-audit/prod")
('finsight-audit', 'prod/')
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from graphbuild.errors import StateError
from graphbuild.state.audit import AuditLog, AuditRecord
from graphbuild.state.definition import StateStore
from graphbuild.values import canonical_json

if TYPE_CHECKING:
    from graphbuild.envs import Environment

__all__ = [
    "Anchor", "Problem", "generate_key", "is_closing", "open_anchor", "open_audit", "public_key_text", "split_bucket", "verify_anchored",
]

Problem = tuple[int | str, str]
MARKER = "audit/anchor.json"  # a hint for the writer (what it anchored last); verify never trusts it
_RECORD = re.compile(r"^records/(\d{12})-([0-9a-f]{64})\.json$")
_DIGEST = re.compile(r"^digests/(\d{12})-[0-9a-f]{16}\.json$")


def split_bucket(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` as (bucket, prefix ending with '/' or empty)."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    return bucket, prefix + "/" if prefix else ""


def is_closing(record: AuditRecord) -> bool:
    """Whether ``record`` ends a deploy or rollback (a digest is signed after it)."""
    return record.event in ("deploy", "rollback") and record.result != "started"


def generate_key() -> tuple[str, str]:
    """A new ed25519 key pair: (private key PEM for the secret store, public key for the toml)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode(), public_key_text(key)


def public_key_text(key: Any) -> str:
    """The base64 of the raw public key of an ed25519 private key: what ``[audit.public_keys]`` holds."""
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def _client(region: str | None) -> Any:
    import boto3

    return boto3.client("s3", region_name=region)  # AWS_ENDPOINT_URL reaches moto's server in tests


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__))


@dataclass(frozen=True, slots=True)
class _Tip:
    """The last digest written: its key, the sha256 of its bytes and the last seq it covers."""

    key: str | None = None
    sha256: str | None = None
    to_seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "sha256": self.sha256, "to_seq": self.to_seq}


class Anchor:
    """Writes each appended audit record to the Object Lock bucket and signs digests (fail closed).

    ``AuditLog.append`` calls ``anchored`` under the log's lock, after the record is in the log: a
    record whose anchoring failed stays in the log, the append raises ``StateError`` and the next
    append anchors it first.
    """

    def __init__(self, client: Any, url: str, *, retention_days: int, digest_every: int = 100, key_id: str | None = None,
                 signing_key: Callable[[], str] | None = None, public_keys: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.client, self.url = client, url
        self.bucket, self.prefix = split_bucket(url)
        self.retention = timedelta(days=retention_days)
        self.digest_every, self.key_id, self.clock = digest_every, key_id, clock
        self.public_keys = dict(public_keys or {})  # every committed key: a digest signed before a rotation still counts
        self._secret, self._public, self._key = signing_key, self.public_keys.get(key_id or ""), None

    def anchored(self, log: AuditLog, store: StateStore, record: AuditRecord) -> None:
        """Anchor ``record`` (and any earlier record not anchored yet); sign a digest when one is due."""
        import botocore.exceptions

        try:
            self._anchor(log, store, record)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise StateError(f"cannot anchor audit record {record.seq} in {self.url}: {_code(exc)}",
                             fix="check the audit bucket (Object Lock enabled), the network and this role's s3 rights; "
                             "the record stays in the log and the next append anchors it") from None

    def _anchor(self, log: AuditLog, store: StateStore, record: AuditRecord) -> None:
        hint = _read_marker(store)
        fresh, pending, tip = [record], [*_pending_of(hint), [record.seq, record.hash]], _tip_of(hint.get("digest"))
        contiguous = self._secret is None or [p[0] for p in pending] == list(range(tip.to_seq + 1, record.seq + 1))
        if hint.get("seq") != record.seq - 1 or not contiguous:
            # first use, or after a failure or an edit: rebuild from the log and the bucket
            tip = self._tip(_Tip(), record.seq)
            done = hint.get("seq") if isinstance(hint.get("seq"), int) and hint.get("seq", 0) < record.seq else 0
            every = [r for r in log.records() if r.seq <= record.seq] or [record]
            fresh = [r for r in every if r.seq > done] or [record]
            pending = [[r.seq, r.hash] for r in every if r.seq > tip.to_seq]
        for item in fresh:
            self._put(f"records/{item.seq:012d}-{item.hash}.json", item.line().encode())
        if self._secret is not None and pending and (is_closing(record) or len(pending) >= self.digest_every):
            tip, pending = self._digest(self._tip(tip, record.seq), pending, record), []
        marker = {"seq": record.seq, "pending": pending if self._secret is not None else [], "digest": tip.to_dict()}
        store.write(MARKER, canonical_json(marker).encode())

    def _put(self, key: str, data: bytes) -> bool:
        """Write one locked object; False if the key already exists (a retry: keys name their content)."""
        import botocore.exceptions

        until = datetime.fromtimestamp(self.clock(), UTC) + self.retention
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data, IfNoneMatch="*",
                                   ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until,
                                   ChecksumAlgorithm="SHA256", ContentType="application/json")
            return True
        except botocore.exceptions.ClientError as exc:
            if _code(exc) == "PreconditionFailed":
                return False
            raise

    def _tip(self, known: _Tip, upto: int) -> _Tip:
        """The newest digest after ``known`` that this key signed and that ends at or before ``upto``:
        one written just before a crash counts, one an attacker put there does not."""
        keys: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + "digests/",
                                  "StartAfter": self.prefix + (known.key or "digests/")}
        while True:
            page = self.client.list_objects_v2(**kwargs)
            keys += [o["Key"] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                break
            kwargs["ContinuationToken"] = page["NextContinuationToken"]
        for key in reversed(keys):
            data = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            problems, body = _check_digest(key, data, self.public_keys)
            if not problems and body["to_seq"] <= upto:
                return _Tip(key.removeprefix(self.prefix), hashlib.sha256(data).hexdigest(), int(body["to_seq"]))
        return known

    def _digest(self, tip: _Tip, pending: list[list[Any]], last: AuditRecord) -> _Tip:
        """Sign and anchor the digest of ``pending``; deterministic, so a retry writes the same bytes."""
        pending = [p for p in pending if p[0] > tip.to_seq]
        if not pending:
            return tip
        body = {
            "version": 1,
            "key_id": self.key_id,
            "time": last.time,
            "from_seq": pending[0][0],
            "to_seq": pending[-1][0],
            "records": pending,
            "previous": None if tip.key is None else {"key": tip.key, "sha256": tip.sha256},
        }
        signature = self._signer().sign(canonical_json(body).encode())  # ed25519 signatures are deterministic
        data = canonical_json({"body": body, "signature": base64.b64encode(signature).decode()}).encode()
        sha = hashlib.sha256(data).hexdigest()
        key = f"digests/{body['to_seq']:012d}-{sha[:16]}.json"  # named by content: nobody can take its name first
        self._put(key, data)
        return _Tip(key, sha, body["to_seq"])

    def _signer(self) -> Any:
        if self._key is None:
            from cryptography.hazmat.primitives.serialization import load_pem_private_key

            assert self._secret is not None
            try:
                key = load_pem_private_key(self._secret().encode(), password=None)
            except (ValueError, TypeError):
                raise StateError("the audit signing key is not an unencrypted PEM private key",
                                 fix="store the PEM `openssl genpkey -algorithm ed25519` prints") from None
            if public_key_text(key) != self._public:
                raise StateError(f"the audit signing key does not match the committed public key {self.key_id!r}",
                                 fix="commit its public key under [audit.public_keys], or fix the secret")
            self._key = key
        return self._key


def open_anchor(env: Environment, *, client: Any = None) -> Anchor | None:
    """The environment's anchor (``[audit]``), or None when it anchors nothing."""
    from graphbuild.secrets import SecretRef, resolve

    settings = env.settings.audit
    if settings is None:
        return None
    secret = None
    if settings.signing_key is not None:
        ref = SecretRef.parse(settings.signing_key, file=env.file)
        secret = lambda: resolve(ref, local=env.settings.local_secrets)  # noqa: E731 read only when a digest is signed
    return Anchor(client or _client(settings.region), settings.bucket, retention_days=settings.retention_days,
                  digest_every=settings.digest_every, key_id=settings.key_id, signing_key=secret,
                  public_keys=settings.public_keys)


def open_audit(store: StateStore, env: Environment) -> AuditLog:
    """The audit log of ``store``, anchored as ``env`` says."""
    return AuditLog(store, anchor=open_anchor(env))


def _tip_of(body: Any) -> _Tip:
    try:
        return _Tip(str(body["key"]), str(body["sha256"]), int(body["to_seq"])) if body and body.get("key") else _Tip()
    except (KeyError, TypeError, ValueError, AttributeError):
        return _Tip()  # an unreadable hint: the next digest is chained from the bucket's newest


def _pending_of(hint: dict[str, Any]) -> list[list[Any]]:
    pending = hint.get("pending")
    if isinstance(pending, list) and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], int) for p in pending):
        return pending
    return [[-1, ""]]  # never contiguous: rebuilt


def _read_marker(store: StateStore) -> dict[str, Any]:
    try:
        body = json.loads(store.read(MARKER) or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# ---- verify: reads the bucket (versions included) and trusts only the committed public keys ----


def _versions(client: Any, bucket: str, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """("version" | "marker", entry) for every version and delete marker under ``prefix``, oldest first per key."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = client.list_object_versions(**kwargs)
        found = [("version", v) for v in page.get("Versions", [])] + [("marker", m) for m in page.get("DeleteMarkers", [])]
        # S3 lists a key's versions newest first; LastModified has one-second steps, so ties keep that order reversed
        order = {id(entry): index for index, (_, entry) in enumerate(found)}
        yield from sorted(found, key=lambda kv: (kv[1]["Key"], kv[1]["LastModified"], -order[id(kv[1])]))
        if not page.get("IsTruncated"):
            return
        kwargs.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])


def _spans(seqs: list[int]) -> Iterator[tuple[int, int]]:
    """Consecutive runs of sorted ``seqs`` as (first, last)."""
    run: list[int] = []
    for seq in seqs:
        if run and seq != run[-1] + 1:
            yield run[0], run[-1]
            run = []
        run.append(seq)
    if run:
        yield run[0], run[-1]


def _span(first: int, last: int) -> str:
    return f"record {first} is" if first == last else f"records {first}..{last} are"


def verify_anchored(records: list[AuditRecord], env: Environment, *, client: Any = None) -> tuple[list[Problem], dict[str, int]]:
    """Compare the log's ``records`` with the anchored copies and the signed digest chain.

    Returns the problems (seq or where; what) and counts (``anchored`` records, ``digests`` verified).
    """
    settings = env.settings.audit
    assert settings is not None
    client = client or _client(settings.region)
    bucket, prefix = split_bucket(settings.bucket)
    import botocore.exceptions

    try:
        anchored, problems = _anchored(client, bucket, prefix)
        digest_problems, digests = _digests(client, bucket, prefix, settings.public_keys, anchored)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        return [("anchor", f"cannot read {settings.bucket}: {_code(exc)}")], {"anchored": 0, "digests": 0}
    problems += _compare(records, anchored, settings.bucket) + digest_problems
    return problems, {"anchored": len(anchored), "digests": digests}


def _anchored(client: Any, bucket: str, prefix: str) -> tuple[dict[int, list[str]], list[Problem]]:
    anchored: dict[int, list[str]] = defaultdict(list)
    problems: list[Problem] = []
    seen: set[str] = set()
    for kind, entry in _versions(client, bucket, prefix + "records/"):
        match = _RECORD.match(entry["Key"].removeprefix(prefix))
        if match is None:
            problems.append((entry["Key"], "an object that is not an anchored record (written outside graphbuild)"))
            continue
        seq, digest = int(match[1]), match[2]
        if kind == "marker":
            problems.append((seq, "its anchored copy was deleted (a delete marker hides it; the locked version remains)"))
        elif entry["Key"] in seen:
            problems.append((seq, "its anchored copy was overwritten (a second version; the first one stands)"))
        else:
            seen.add(entry["Key"])
            anchored[seq].append(digest)
    return dict(anchored), problems


def _compare(records: list[AuditRecord], anchored: dict[int, list[str]], url: str) -> list[Problem]:
    problems: list[Problem] = []
    local: dict[int, str] = {}
    for record in records:
        local.setdefault(record.seq, record.hash)
    for seq, hashes in sorted(anchored.items()):
        if len(hashes) > 1:
            problems.append((seq, f"anchored {len(hashes)} times with different hashes: the record was rewritten and re-anchored"))
        elif seq in local and local[seq] != hashes[0]:
            problems.append((seq, f"differs from its anchored copy in {url} (rewritten after it was anchored)"))
    for first, last in _spans(sorted(set(anchored) - set(local))):
        problems.append((first, f"{_span(first, last)} anchored but missing from the log (truncated or deleted)"))
    for first, last in _spans(sorted(set(local) - set(anchored))):
        problems.append((first, f"{_span(first, last)} in the log but not anchored in {url} (written outside graphbuild, "
                                "or its anchoring failed: the next append anchors it)"))
    top = max([*anchored, *local], default=0)
    for first, last in _spans(sorted(set(range(1, top + 1)) - set(anchored) - set(local))):
        problems.append((first, f"{_span(first, last)} missing from the log and never anchored"))
    return problems


def _digests(client: Any, bucket: str, prefix: str, public_keys: dict[str, str],
             anchored: dict[int, list[str]]) -> tuple[list[Problem], int]:
    problems: list[Problem] = []
    verified, seen = 0, set()
    previous: tuple[str, str, int] | None = None  # key, sha256, to_seq
    for kind, entry in _versions(client, bucket, prefix + "digests/"):
        key = entry["Key"].removeprefix(prefix)
        if kind == "marker" or key in seen or not _DIGEST.match(key):
            what = "deleted (a delete marker hides it)" if kind == "marker" else "overwritten" if key in seen else "not a digest's name"
            problems.append((key, f"digest {what}: written outside graphbuild"))
            continue
        seen.add(key)
        data = client.get_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])["Body"].read()
        found, body = _check_digest(key, data, public_keys)
        if found:
            problems += found
            continue
        first, last = body["from_seq"], body["to_seq"]
        expected = None if previous is None else {"key": previous[0], "sha256": previous[1]}
        if body["previous"] != expected or first != (previous[2] + 1 if previous else 1):
            follows = expected["key"] if expected else "nothing"
            problems.append((first, f"digest of records {first}..{last}: the digest chain is broken (it does not follow {follows})"))
        for seq, digest in body["records"]:
            if digest not in anchored.get(seq, []):
                problems.append((seq, f"does not match the signed digest {key} (the anchored copy differs or is missing)"))
        previous = (key, hashlib.sha256(data).hexdigest(), last)
        verified += 1
    return problems, verified


def _check_digest(key: str, data: bytes, public_keys: dict[str, str]) -> tuple[list[Problem], dict[str, Any]]:
    """The problems of one digest file on its own (format, key, signature), and its body."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        outer = json.loads(data)
        body, signature = outer["body"], base64.b64decode(outer["signature"], validate=True)
        first, key_id = body["from_seq"], body["key_id"]
        if not (isinstance(first, int) and isinstance(body["to_seq"], int) and isinstance(body["records"], list)):
            raise TypeError("not a digest")
    except (ValueError, KeyError, TypeError):
        return [(key, "not a digest file")], {}
    if key_id not in public_keys:
        return [(first, f"digest {key} is signed by unknown key {key_id!r} (not under [audit.public_keys]): forged")], body
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_keys[key_id])).verify(signature, canonical_json(body).encode())
    except (InvalidSignature, ValueError):
        return [(first, f"digest {key}: its signature does not verify with key {key_id!r}: forged or altered")], body
    return [], body
