"""The audit trail: any edit, deletion, insertion, reordering or truncation is detected; exports."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphbuild.errors import StateError
from graphbuild.state import GENESIS, AuditLog, LocalStore, Secret, redact
from graphbuild.values import canonical_json
from tests.state.conftest import FakeClock, StoreSpec, race

N = 6
FIELDS = ("seq", "time", "event", "actor", "env", "plan_id", "commit", "result", "details", "prev", "hash")
DAY = 86_400.0


def _fill(log: AuditLog, clock: FakeClock, count: int = N) -> None:
    for n in range(count):
        log.append(
            ["plan.created", "approval", "deploy.step", "rollback"][n % 4],
            actor=["alice", "bob"][n % 2],
            env="prod",
            plan_id=f"plan{n}",
            commit=f"c{n}",
            result="ok",
            details={"n": n, "step": f"//pkg:t{n}#apply"},
        )
        clock.advance(DAY)


@cache
def pristine() -> tuple[bytes, bytes]:
    """The log and head bytes of an intact trail of N records (built once: appends fsync)."""
    with tempfile.TemporaryDirectory() as tmp:
        store, clock = LocalStore(tmp), FakeClock()
        _fill(AuditLog(store, clock), clock)
        return store.read("audit/log.jsonl"), store.read("audit/head.json")


def tampered(lines: list[dict] | list[bytes]) -> tuple[bool, tuple]:
    """Verify a trail whose log lines were replaced (the head kept as it was)."""
    _, head = pristine()
    with tempfile.TemporaryDirectory() as tmp:
        body = b"".join((line if isinstance(line, bytes) else canonical_json(line).encode()) + b"\n" for line in lines)
        (Path(tmp) / "audit").mkdir()
        (Path(tmp) / "audit" / "log.jsonl").write_bytes(body)  # no fsync: only verify reads these
        (Path(tmp) / "audit" / "head.json").write_bytes(head)
        report = AuditLog(LocalStore(tmp)).verify()
        return report.ok, report.problems


def records() -> list[dict]:
    return [json.loads(line) for line in pristine()[0].splitlines()]


def rehash(record: dict) -> dict:
    content = {k: v for k, v in record.items() if k != "hash"}
    return {**content, "hash": hashlib.sha256(canonical_json(content).encode()).hexdigest()}


def changed(value):
    if isinstance(value, int):
        return value + 100
    if isinstance(value, dict):
        return {**value, "forged": True}
    if value is None:
        return "x"
    return value[:-1] + ("0" if value[-1:] != "0" else "1")


def test_an_intact_trail_verifies(tmp_path):
    clock = FakeClock()
    log = AuditLog(LocalStore(tmp_path), clock)
    assert log.verify() == log.verify().__class__(True, 0, ())
    _fill(log, clock, 3)
    report = log.verify()
    assert (report.ok, report.records, report.problems) == (True, 3, ())
    first, second, third = log.records()
    assert (first.seq, first.prev, second.prev, third.prev) == (1, GENESIS, first.hash, second.hash)
    assert first.time == "2026-01-01T00:00:00.000000Z" and dict(first.details) == {"n": 0, "step": "//pkg:t0#apply"}
    assert all(r.is_intact() for r in log.records())
    assert tampered(records()) == (True, ())


@settings(max_examples=60, deadline=None)
@given(st.integers(0, N - 1), st.sampled_from(FIELDS), st.booleans())
def test_editing_any_field_of_any_record_is_detected(index, field, recompute_hash):
    lines = records()
    lines[index] = {**lines[index], field: changed(lines[index][field])}
    if recompute_hash and field != "hash":
        lines[index] = rehash(lines[index])  # the forger fixes the edited record's own hash
    ok, problems = tampered(lines)
    assert not ok and problems


@settings(max_examples=20, deadline=None)
@given(st.integers(0, N - 1))
def test_deleting_any_record_is_detected(index):
    lines = records()
    del lines[index]
    ok, problems = tampered(lines)
    assert not ok
    if index == N - 1:
        assert any("missing from the end" in what for _, what in problems)
    else:
        assert any("missing before it" in what for _, what in problems)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, N), st.text(max_size=5))
def test_inserting_a_forged_record_with_its_own_chain_right_is_detected(position, actor):
    lines = records()
    before = lines[position - 1] if position else None
    forged = rehash(
        {
            **lines[0],
            "seq": before["seq"] + 1 if before else 1,
            "prev": before["hash"] if before else GENESIS,
            "actor": "mallory" + actor,
            "event": "approval",
        }
    )
    lines.insert(position, forged)
    ok, problems = tampered(lines)
    assert not ok and problems


@settings(max_examples=20, deadline=None)
@given(st.integers(0, N - 1), st.integers(0, N - 1))
def test_reordering_two_records_is_detected(i, j):
    lines = records()
    if i == j:
        j = (i + 1) % N
    lines[i], lines[j] = lines[j], lines[i]
    assert tampered(lines)[0] is False


@settings(max_examples=20, deadline=None)
@given(st.integers(0, N), st.binary(min_size=1, max_size=20).filter(lambda b: b"\n" not in b))
def test_a_garbage_line_is_detected_and_located(position, garbage):
    lines: list = [canonical_json(r).encode() for r in records()]
    lines.insert(position, garbage)
    ok, problems = tampered(lines)
    assert not ok and (f"line {position + 1}", "not an audit record (a torn or garbage line)") in problems


def test_a_rewritten_tail_or_a_lost_head_is_detected(tmp_path):
    lines = records()
    lines[-1] = rehash({**lines[-1], "result": "failed"})  # the forger rewrites the last record
    assert tampered(lines)[0] is False
    lines = records() + [rehash({**records()[0], "seq": N + 1, "prev": records()[-1]["hash"]})]
    ok, problems = tampered(lines)  # appended past the head
    assert not ok and problems == ((N + 1, "records past the head: appended outside graphbuild"),)
    store = LocalStore(tmp_path)
    store.write("audit/log.jsonl", pristine()[0])
    assert AuditLog(store).verify().problems == (("head", "the head record is missing"),)
    with pytest.raises(StateError, match="head record is missing"):
        AuditLog(store).append("x", actor="a", result="ok")
    store.write("audit/head.json", pristine()[1].replace(b'"seq":6', b'"seq":7'))
    assert not AuditLog(store).verify().ok


def test_a_crash_between_head_and_line_is_repaired_by_the_next_append(tmp_path):
    store = LocalStore(tmp_path)
    log_bytes, head = pristine()
    store.write("audit/head.json", head)
    store.write("audit/log.jsonl", b"".join(log_bytes.splitlines(keepends=True)[:-1]))  # the line never made it
    log = AuditLog(store)
    assert [w for w, _ in log.verify().problems] == [N]
    record = log.append("deploy.resumed", actor="alice", result="ok")
    assert record.seq == N + 1
    report = log.verify()
    assert (report.ok, report.records) == (True, N + 1)


def test_appending_after_a_torn_line_continues_the_chain(tmp_path):
    store = LocalStore(tmp_path)
    log_bytes, head = pristine()
    store.write("audit/head.json", head)
    store.write("audit/log.jsonl", log_bytes + b'{"seq":7,"ti')
    log = AuditLog(store)
    log.append("deploy.resumed", actor="alice", result="ok")
    log.append("deploy.finished", actor="alice", result="ok")
    report = log.verify()
    assert report.records == N + 2 and report.problems == (("line 7", "not an audit record (a torn or garbage line)"),)


def test_secret_values_never_enter_the_trail(tmp_path):
    log = AuditLog(LocalStore(tmp_path))
    with pytest.raises(StateError, match="secret") as error:
        log.append("deploy.step", actor="ci", result="ok", details={"conn": {"password": Secret("hunter2")}})
    assert "hunter2" not in str(error.value) and "details.conn.password" in str(error.value)
    with pytest.raises(StateError, match="secret") as error:
        log.append("deploy.step", actor="ci", result="ok", details={"log": ["ok", "dsn=u:hunter2@h"]}, secrets=["hunter2"])
    assert "hunter2" not in str(error.value)
    with pytest.raises(StateError):
        log.append("deploy.step", actor="hunter2", result="ok", secrets=["hunter2"])
    assert log.records() == []
    details = redact({"log": ["ok", "dsn=u:hunter2@h"], "nested": {"k": Secret("x")}, "n": 3}, ["hunter2", ""])
    assert details == {"log": ["ok", "dsn=u:********@h"], "nested": {"k": "********"}, "n": 3}
    log.append("deploy.step", actor="ci", result="ok", details=details, secrets=["hunter2"])
    assert b"hunter2" not in (tmp_path / "audit" / "log.jsonl").read_bytes()


def test_bad_input(tmp_path):
    log = AuditLog(LocalStore(tmp_path))
    with pytest.raises(StateError, match="non-empty actor"):
        log.append("deploy", actor="", result="ok")
    with pytest.raises(StateError, match="strings or None"):
        log.append("deploy", actor="a", result="ok", env=3)  # type: ignore[arg-type]
    with pytest.raises(StateError, match="unknown export format"):
        log.export(None, "xml")  # type: ignore[arg-type]
    assert log.verify().ok


def test_export_csv_and_json_since(tmp_path):
    store = LocalStore(tmp_path)
    store.write("audit/log.jsonl", pristine()[0])
    store.write("audit/head.json", pristine()[1])
    log = AuditLog(store)
    rows = list(csv.DictReader(io.StringIO(log.export(None, "csv"))))
    assert len(rows) == N and list(rows[0]) == list(FIELDS)
    assert rows[1]["details"] == '{"n":1,"step":"//pkg:t1#apply"}' and rows[1]["time"].startswith("2026-01-02T")
    since = list(csv.DictReader(io.StringIO(log.export(date(2026, 1, 4), "csv"))))
    assert [r["seq"] for r in since] == ["4", "5", "6"]
    exported = json.loads(log.export(datetime(2026, 1, 5, tzinfo=UTC), "json"))
    assert [r["seq"] for r in exported] == [5, 6] and exported == records()[4:]
    assert json.loads(log.export(datetime(2026, 1, 5, 0, 0, 1), "json")) == records()[5:]  # naive is UTC
    assert log.export(date(2027, 1, 1), "csv") == ",".join(FIELDS) + "\n"


def _append_many(index: int, spec: StoreSpec, times: int) -> None:
    log = AuditLog(spec.open())
    for n in range(times):
        log.append("deploy.step", actor=f"deploy-{index}", env="dev", result="ok", details={"n": n})


def test_concurrent_appends_from_several_processes_keep_one_chain(store_spec):
    assert all(status == "ok" for status, _ in race(_append_many, 4, store_spec, 8))
    log = AuditLog(store_spec.open())
    report = log.verify()
    assert (report.ok, report.records) == (True, 32)
    assert [r.seq for r in log.records()] == list(range(1, 33))
