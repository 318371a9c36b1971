"""The audit trail: every plan, approval, deploy step, rollback and outcome, hash-chained (SOX).

Each record holds the hash of the record before it (``GENESIS`` for the first) and its own hash, the
sha256 of its canonical JSON without ``hash``; so editing, deleting, inserting or reordering records
breaks the chain. A head record (the last record, its sequence number and where its line starts) is
written atomically with every append, so cutting records off the end is detected too; ``verify``
reports every problem it finds. Appends are serialized between processes by the store's lock.

>>> import tempfile; tmp = tempfile.TemporaryDirectory()
>>> from graphbuild.state import LocalStore
>>> log = AuditLog(LocalStore(tmp.name), clock=lambda: 1767225600.0)
>>> record = log.append("deploy.started", actor="alice", env="dev", plan_id="3f2a", result="ok")
>>> record.seq, record.time, record.prev == GENESIS
(1, '2026-01-01T00:00:00.000000Z', True)
>>> log.verify().ok
True
>>> print(log.export(None, "csv"), end="")  # doctest: +ELLIPSIS
seq,time,event,actor,env,plan_id,commit,result,details,prev,hash
1,2026-01-01T00:00:00.000000Z,deploy.started,alice,dev,3f2a,,ok,{},000...
>>> tmp.cleanup()

Secret values never enter the trail: ``append`` refuses details holding a ``Secret`` or any of the
values passed as ``secrets``; ``redact`` masks them first.

>>> redact({"dsn": "user:hunter2@db", "n": 1}, ["hunter2"])
{'dsn': 'user:********@db', 'n': 1}
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol

from graphbuild.errors import StateError
from graphbuild.state.definition import StateReader, StateStore, check_path
from graphbuild.values import FrozenDict, canonical_json, freeze, thaw

__all__ = ["GENESIS", "AuditLog", "AuditRecord", "AuditReport", "Secret", "redact"]

GENESIS = "0" * 64  # the ``prev`` of the first record
MASK = "********"  # the mask graphbuild.secrets.Redactor uses
_COLUMNS = ("seq", "time", "event", "actor", "env", "plan_id", "commit", "result", "details", "prev", "hash")


class Secret(str):
    """A string the caller marks as secret: ``AuditLog.append`` refuses details holding one.

    >>> Secret("hunter2")
    Secret('********')
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"


def redact(mapping: Mapping[str, Any], secret_values: Iterable[str], mask: str = MASK) -> dict[str, Any]:
    """A copy of ``mapping`` with every ``Secret`` and every occurrence of a secret value masked.

    Keys and values are masked, at any depth (mappings, lists, tuples); empty secrets are ignored.
    """
    secrets = sorted({s for s in secret_values if s}, key=len, reverse=True)

    def clean(value: Any) -> Any:
        if isinstance(value, Secret):
            return mask
        if isinstance(value, str):
            for secret in secrets:
                value = value.replace(secret, mask)
            return value
        if isinstance(value, Mapping):
            return {clean(str(k)): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return clean(dict(mapping))


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One event of the audit trail."""

    seq: int
    time: str  # UTC, ISO-8601
    event: str  # "plan.created", "approval", "deploy.step", "rollback", ...
    actor: str
    env: str | None
    plan_id: str | None
    commit: str | None
    result: str
    details: FrozenDict
    prev: str  # hash of the previous record, or GENESIS
    hash: str  # sha256 of the canonical JSON of every field above

    def content(self) -> dict[str, Any]:
        """Every field but ``hash``: what ``hash`` is computed over."""
        return {
            "seq": self.seq,
            "time": self.time,
            "event": self.event,
            "actor": self.actor,
            "env": self.env,
            "plan_id": self.plan_id,
            "commit": self.commit,
            "result": self.result,
            "details": thaw(self.details),
            "prev": self.prev,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.content(), "hash": self.hash}

    def computed_hash(self) -> str:
        return _digest(self.content())

    def is_intact(self) -> bool:
        return self.hash == self.computed_hash()

    def line(self) -> str:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, body: Any) -> AuditRecord:
        if not isinstance(body, dict) or set(body) != set(_COLUMNS):
            raise ValueError("not an audit record")
        details = body["details"]
        if not isinstance(details, dict) or not isinstance(body["seq"], int):
            raise ValueError("not an audit record")
        return cls(
            body["seq"],
            _text(body["time"]),
            _text(body["event"]),
            _text(body["actor"]),
            _optional(body["env"]),
            _optional(body["plan_id"]),
            _optional(body["commit"]),
            _text(body["result"]),
            freeze(details),
            _text(body["prev"]),
            _text(body["hash"]),
        )


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("not an audit record")
    return value


def _optional(value: Any) -> str | None:
    return None if value is None else _text(value)


def _digest(content: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


class Anchoring(Protocol):
    """Where each appended record is also written, out of the writer's reach (graphbuild.state.anchor.Anchor)."""

    def anchored(self, log: AuditLog, store: StateStore, record: AuditRecord) -> None: ...


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What ``verify`` found: ``problems`` are (record seq, or "line N", or "head"; what is wrong)."""

    ok: bool
    records: int
    problems: tuple[tuple[int | str, str], ...]


class AuditLog:
    """The audit trail in a store: ``<prefix>/log.jsonl`` and its head ``<prefix>/head.json``.

    A ``StateReader`` is enough for ``records``, ``verify`` and ``export``.
    """

    def __init__(self, store: StateReader | StateStore, clock: Callable[[], float] = time.time, *, prefix: str = "audit",
                 anchor: Anchoring | None = None) -> None:
        self.store = store
        self.clock = clock
        self.anchor = anchor  # a graphbuild.state.anchor.Anchor: each record is also written out of the writer's reach
        self.log_key = check_path(f"{prefix}/log.jsonl")
        self.head_key = check_path(f"{prefix}/head.json")

    def append(
        self,
        event: str,
        *,
        actor: str,
        env: str | None = None,
        plan_id: str | None = None,
        commit: str | None = None,
        result: str,
        details: Mapping[str, Any] | None = None,
        secrets: Collection[str] = (),
    ) -> AuditRecord:
        """Append one event and return it as stored.

        Refuses (``StateError``) details holding a ``Secret`` or any of ``secrets``; the error never
        shows the value.
        """
        for name, value in (("event", event), ("actor", actor), ("result", result)):
            if not isinstance(value, str) or not value:
                raise StateError(f"an audit record needs a non-empty {name}")
        fields = {"event": event, "actor": actor, "env": env, "plan_id": plan_id, "commit": commit, "result": result}
        _refuse_secrets({**fields, "details": dict(details or {})}, secrets)
        plain = json.loads(canonical_json(dict(details or {})))  # exactly what a reader will parse back
        store: StateStore = self.store  # type: ignore[assignment]
        with store.lock(self.log_key):
            seq, prev, offset = self._tip(store)
            now = datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
            content = {"seq": seq + 1, "time": now, **fields, "details": plain, "prev": prev}
            try:
                record = AuditRecord.from_dict({**content, "hash": _digest(content)})
            except ValueError:
                raise StateError("an audit record's env, plan_id and commit must be strings or None") from None
            # the head first: a crash before the line is appended is repaired from it by the next append
            head = {"seq": record.seq, "hash": record.hash, "offset": offset, "record": record.to_dict()}
            store.write(self.head_key, canonical_json(head).encode())
            store.append_line(self.log_key, record.line())
            if self.anchor is not None:  # under the lock, so anchored records keep the log's order
                self.anchor.anchored(self, store, record)
            return record

    def _tip(self, store: StateStore) -> tuple[int, str, int]:
        """The last seq and hash, and the offset where the next line will start (restoring a lost line)."""
        head = self._head()
        if head is None:
            existing = store.read(self.log_key) or b""
            if existing.strip():
                raise StateError(
                    "the audit log has records but its head record is missing",
                    file=self.head_key,
                    fix="restore the head from a backup; `graphbuild audit verify` lists what else is wrong",
                )
            return 0, GENESIS, _next_offset(len(existing), existing[-1:])
        line = (head.line() + "\n").encode()
        offset = self._head_offset()
        tail = store.read(self.log_key, offset) or b""
        if tail.startswith(line):
            return head.seq, head.hash, _next_offset(offset + len(tail), tail[-1:])
        if not tail and (offset == 0 or store.read(self.log_key, offset - 1) == b"\n"):
            store.append_line(self.log_key, head.line())  # lost to a crash after the head was written
            return head.seq, head.hash, offset + len(line)
        whole = store.read(self.log_key) or b""  # edited or truncated: keep the chain, verify reports it
        return head.seq, head.hash, _next_offset(len(whole), whole[-1:])

    def _head_body(self) -> dict[str, Any] | None:
        raw = self.store.read(self.head_key)
        if raw is None:
            return None
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
            return body
        except ValueError as error:
            raise StateError(
                f"the audit head record is unreadable ({error})",
                file=self.head_key,
                fix="restore it from a backup; `graphbuild audit verify` lists what else is wrong",
            ) from error

    def _head(self) -> AuditRecord | None:
        body = self._head_body()
        if body is None:
            return None
        try:
            record = AuditRecord.from_dict(body["record"])
            if body["seq"] != record.seq or body["hash"] != record.hash or not record.is_intact():
                raise ValueError("it does not match the record it names")
            return record
        except (ValueError, KeyError, TypeError) as error:
            raise StateError(
                f"the audit head record is invalid ({error})",
                file=self.head_key,
                fix="restore it from a backup; `graphbuild audit verify` lists what else is wrong",
            ) from error

    def _head_offset(self) -> int:
        body = self._head_body() or {}
        offset = body.get("offset", 0)
        return offset if isinstance(offset, int) and offset >= 0 else 0

    def _lines(self) -> list[tuple[int, AuditRecord | None]]:
        raw = self.store.read(self.log_key) or b""
        lines = raw.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        parsed: list[tuple[int, AuditRecord | None]] = []
        for number, line in enumerate(lines, start=1):
            try:
                parsed.append((number, AuditRecord.from_dict(json.loads(line))))
            except (ValueError, KeyError, TypeError):
                parsed.append((number, None))
        return parsed

    def records(self) -> list[AuditRecord]:
        """Every readable record in file order (``verify`` says whether the trail is intact)."""
        return [record for _, record in self._lines() if record is not None]

    def verify(self) -> AuditReport:
        """Check the whole trail: each hash, the chain, the sequence and the head."""
        problems: list[tuple[int | str, str]] = []
        expected_seq, expected_prev = 1, GENESIS
        last: AuditRecord | None = None
        count = 0
        for number, record in self._lines():
            if record is None:
                problems.append((f"line {number}", "not an audit record (a torn or garbage line)"))
                continue
            count += 1
            if not record.is_intact():
                problems.append((record.seq, "edited: its hash does not match its content"))
            if record.seq > expected_seq:
                gap = f"record {expected_seq} is" if record.seq == expected_seq + 1 else f"records {expected_seq}..{record.seq - 1} are"
                problems.append((record.seq, f"{gap} missing before it"))
            elif record.seq < expected_seq:
                problems.append((record.seq, f"out of order or inserted: record {expected_seq} was expected here"))
            if record.prev != expected_prev:
                problems.append((record.seq, "chain broken: its prev is not the hash of the record before it"))
            expected_seq, expected_prev, last = record.seq + 1, record.hash, record
        problems.extend(self._verify_head(last))
        return AuditReport(not problems, count, tuple(problems))

    def _verify_head(self, last: AuditRecord | None) -> list[tuple[int | str, str]]:
        try:
            head = self._head()
        except StateError as error:
            return [("head", error.message)]
        if head is None:
            return [] if last is None else [("head", "the head record is missing")]
        if last is None or last.seq < head.seq:
            first = 1 if last is None else last.seq + 1
            span = f"record {head.seq} is" if first == head.seq else f"records {first}..{head.seq} are"
            return [
                (
                    first,
                    f"{span} missing from the end of the log (truncated; or a crash mid-append, "
                    "which the next append repairs)",
                )
            ]
        if last.seq > head.seq:
            return [(head.seq + 1, "records past the head: appended outside graphbuild")]
        if last.hash != head.hash:
            return [(last.seq, "the last record is not the one the head names")]
        return []

    def export(self, since: datetime | date | None = None, fmt: Literal["csv", "json"] = "csv") -> str:
        """The records at or after ``since`` (a date: from its midnight UTC; naive times are UTC).

        ``csv`` has a header row and the details as canonical JSON; ``json`` is a list of records.
        """
        if fmt not in ("csv", "json"):
            raise StateError(f"unknown export format {fmt!r}", fix="use csv or json")
        start = _as_utc(since)
        chosen = [r for r in self.records() if start is None or _parse_time(r.time) >= start]
        if fmt == "json":
            return json.dumps([r.to_dict() for r in chosen], indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(_COLUMNS)
        for record in chosen:
            row = record.to_dict()
            row["details"] = canonical_json(row["details"])
            writer.writerow(["" if row[c] is None else row[c] for c in _COLUMNS])
        return out.getvalue()


def _next_offset(size: int, last_byte: bytes) -> int:
    # append_line first ends a torn line with a newline of its own
    return size + 1 if size and last_byte != b"\n" else size


def _as_utc(since: datetime | date | None) -> datetime | None:
    if since is None:
        return None
    if not isinstance(since, datetime):
        return datetime(since.year, since.month, since.day, tzinfo=UTC)
    return since.replace(tzinfo=UTC) if since.tzinfo is None else since


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _refuse_secrets(fields: Mapping[str, Any], secrets: Collection[str]) -> None:
    values = [s for s in secrets if s]

    def walk(value: Any, where: str) -> None:
        if isinstance(value, Secret) or (isinstance(value, str) and any(s in value for s in values)):
            raise StateError(
                f"refusing to write a secret value into the audit trail (at {where})",
                fix="record the secret's reference (secret:...) instead, or pass the details through redact()",
            )
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(str(key), f"{where} key")
                walk(item, f"{where}.{key}")
        elif isinstance(value, (list, tuple, set, frozenset)):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]")

    for name, value in fields.items():
        walk(value, name)
