"""The FinSight Kafka topics: schemas, topic settings and their compatibility history.

Each topic folder under kafka/topics/ holds the current schema (schema.avsc), the topic settings
(topic.toml) and the versions already registered (versions/<n>.avsc), which are the compatibility
baseline. Compatibility is checked the way a reader meets a writer in production: records written
with one schema are encoded with fastavro and decoded with another as the reader schema, following
Avro's resolution rules. The generated records visit every enum symbol and every union branch, so a
symbol or branch the reader cannot resolve fails the read.
"""

from __future__ import annotations

import ast
import datetime as dt
import io
import json
import re
import tomllib
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.read import SchemaResolutionError
from fastavro.schema import parse_schema

ROOT = Path(__file__).resolve().parents[2]
TOPICS_DIR = ROOT / "kafka" / "topics"

TOPICS = (
    "payments.transactions.v1",
    "cards.authorizations.v1",
    "transfers.events.v1",
    "ledger.entries.v1",
    "fraud.signals.v1",
    "kyc.events.v1",
    "fx.rates.v1",
    "accounts.changes.v1",
)
MODES = {
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
}
TOPIC_KEYS = {
    "partitions": int,
    "replication_factor": int,
    "retention_ms": int,
    "cleanup_policy": str,
    "compatibility": str,
    "min_insync_replicas": int,
    "description": str,
    "owner": str,
}
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
RECORDS_PER_CHECK = 24  # enough for every enum symbol and union branch to be written at least once


# ---------------------------------------------------------------------------------------------
# loading


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def version_files(topic: str) -> list[Path]:
    files = sorted((TOPICS_DIR / topic / "versions").glob("*.avsc"), key=lambda p: int(p.stem))
    return files


def history(topic: str) -> list[tuple[str, dict[str, Any]]]:
    """Registered versions in order, then schema.avsc when it is a new, not yet registered version."""
    out = [(f"v{p.stem}", load_json(p)) for p in version_files(topic)]
    current = load_json(TOPICS_DIR / topic / "schema.avsc")
    if current != out[-1][1]:
        out.append(("schema.avsc", current))
    return out


def settings(topic: str) -> dict[str, Any]:
    with (TOPICS_DIR / topic / "topic.toml").open("rb") as f:
        return tomllib.load(f)


def parsed(schema: dict[str, Any]) -> dict[str, Any]:
    return parse_schema(schema)  # a fresh set of named types per schema


# ---------------------------------------------------------------------------------------------
# record generation


class RecordMaker:
    """Builds records for a parsed schema, cycling every enum and union choice point independently."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.named = schema["__named_schemas"]
        self.counters: dict[str, int] = defaultdict(int)

    def records(self, n: int) -> list[dict[str, Any]]:
        return [self.value(self.schema, "$") for _ in range(n)]

    def tick(self, path: str) -> int:
        self.counters[path] += 1
        return self.counters[path]

    def value(self, schema: Any, path: str) -> Any:
        if isinstance(schema, list):
            branch = schema[self.tick(path) % len(schema)]
            return self.value(branch, f"{path}|{self.type_name(branch)}")
        if isinstance(schema, str):
            return self.value(self.named[schema], path) if schema not in PRIMITIVES else self.primitive(schema, path)
        logical = schema.get("logicalType")
        kind = schema["type"]
        if logical == "decimal":
            n = self.tick(path)
            return Decimal(n * 1_234_567 + 99).scaleb(-schema["scale"])
        if logical == "timestamp-millis":
            return dt.datetime(2024, 3, 1, 9, 30, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=97 * self.tick(path))
        if logical == "date":
            return dt.date(2024, 3, 1) + dt.timedelta(days=self.tick(path))
        if logical == "uuid":
            return uuid.UUID(int=self.tick(path) * 7919)
        if kind == "record":
            return {f["name"]: self.value(f["type"], f"{path}.{f['name']}") for f in schema["fields"]}
        if kind == "enum":
            return schema["symbols"][self.tick(path) % len(schema["symbols"])]
        if kind == "array":
            return [self.value(schema["items"], f"{path}[]") for _ in range(self.tick(path) % 3)]
        if kind == "map":
            return {"trace_id": self.value(schema["values"], f"{path}{{}}")} if self.tick(path) % 2 else {}
        if kind in PRIMITIVES:
            return self.primitive(kind, path)
        raise AssertionError(f"unhandled Avro type at {path}: {schema}")

    def primitive(self, kind: str, path: str) -> Any:
        n = self.tick(path)
        return {
            "null": None,
            "boolean": n % 2 == 0,
            "int": n,
            "long": n * 1_000_003,
            "float": n / 8,
            "double": n / 16,
            "bytes": n.to_bytes(4, "big"),
            "string": f"{path.rsplit('.', 1)[-1]}-{n:04d}",
        }[kind]

    @staticmethod
    def type_name(schema: Any) -> str:
        if isinstance(schema, str):
            return schema
        return schema.get("name") or schema.get("logicalType") or schema["type"]


def round_trip(writer: dict[str, Any], reader: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """Write records with the writer schema and read them back with the reader schema."""
    w, r = parsed(writer), parsed(reader)
    written = RecordMaker(w).records(RECORDS_PER_CHECK)
    buf = io.BytesIO()
    fastavro.writer(buf, w, written)
    buf.seek(0)
    return written, list(fastavro.reader(buf, reader_schema=r))


def check_readable(writer: dict[str, Any], reader: dict[str, Any]) -> None:
    written, read = round_trip(writer, reader)
    assert len(read) == len(written)
    w_fields = {f["name"]: f for f in writer["fields"]}
    for f in reader["fields"]:
        name = f["name"]
        if name not in w_fields:
            # a field the writer did not know takes the reader's default
            assert all(rec[name] == f["default"] for rec in read), name
        elif w_fields[name]["type"] == f["type"]:
            # an unchanged field comes through unchanged
            assert [rec[name] for rec in read] == [rec[name] for rec in written], name


def compatibility_checks(mode: str, versions: list[tuple[str, dict]]) -> list[tuple[str, str, dict, dict]]:
    """(writer label, reader label, writer, reader) pairs that mode requires to be readable."""
    checks = []
    for i in range(1, len(versions)):
        new_label, new = versions[i]
        older = versions[:i] if mode.endswith("_TRANSITIVE") else [versions[i - 1]]
        for old_label, old in older:
            if mode.startswith(("BACKWARD", "FULL")):
                checks.append((old_label, new_label, old, new))
            if mode.startswith(("FORWARD", "FULL")):
                checks.append((new_label, old_label, new, old))
    return checks


ALL_CHECKS = [
    pytest.param(topic, w_label, r_label, w, r, id=f"{topic}:{w_label}->{r_label}")
    for topic in TOPICS
    for w_label, r_label, w, r in compatibility_checks(settings(topic)["compatibility"], history(topic))
]


# ---------------------------------------------------------------------------------------------
# layout and settings


def test_topic_folders_are_the_eight_topics() -> None:
    folders = {p.name for p in TOPICS_DIR.iterdir() if p.is_dir()}
    assert folders == set(TOPICS)
    for topic in TOPICS:
        assert (TOPICS_DIR / topic / "schema.avsc").is_file()
        assert (TOPICS_DIR / topic / "topic.toml").is_file()


def test_build_file_declares_the_topic_generator() -> None:
    tree = ast.parse((TOPICS_DIR / "BUILD").read_text(encoding="utf-8"))
    calls = [node.value for node in tree.body if isinstance(node, ast.Expr)]
    assert len(calls) == len(tree.body) == 1
    assert isinstance(calls[0], ast.Call) and isinstance(calls[0].func, ast.Name)
    assert calls[0].func.id == "kafka_topics"


@pytest.mark.parametrize("topic", TOPICS)
def test_topic_settings_are_valid(topic: str) -> None:
    cfg = settings(topic)
    assert set(cfg) == set(TOPIC_KEYS)
    for key, kind in TOPIC_KEYS.items():
        assert isinstance(cfg[key], kind) and not isinstance(cfg[key], bool), key
    assert cfg["compatibility"] in MODES
    assert cfg["cleanup_policy"] in {"delete", "compact", "compact,delete"}
    assert 1 <= cfg["partitions"] <= 256
    assert cfg["replication_factor"] >= 3, "production topics survive the loss of a broker during a deploy"
    assert 2 <= cfg["min_insync_replicas"] < cfg["replication_factor"]
    if cfg["cleanup_policy"] == "compact":
        assert cfg["retention_ms"] == -1
    else:
        assert cfg["retention_ms"] >= 3_600_000
    assert cfg["description"].strip() and re.fullmatch(r"[a-z]+(-[a-z]+)*", cfg["owner"])


def test_several_compatibility_modes_are_in_use() -> None:
    modes = {settings(t)["compatibility"] for t in TOPICS}
    assert {"BACKWARD", "BACKWARD_TRANSITIVE", "FULL", "FORWARD"} <= modes


# ---------------------------------------------------------------------------------------------
# schemas


@pytest.mark.parametrize("topic", TOPICS)
def test_every_schema_file_parses_with_fastavro(topic: str) -> None:
    files = [TOPICS_DIR / topic / "schema.avsc", *version_files(topic)]
    for path in files:
        schema = parse_schema(load_json(path))
        assert schema["type"] == "record", path


@pytest.mark.parametrize("topic", TOPICS)
def test_versions_are_numbered_from_one_without_gaps(topic: str) -> None:
    numbers = [int(p.stem) for p in version_files(topic)]
    assert numbers == list(range(1, len(numbers) + 1)) and numbers


def walk_fields(schema: Any, seen: set[str] | None = None):
    """Yield (record name, field) for every field of every record in a raw schema."""
    seen = set() if seen is None else seen
    if isinstance(schema, list):
        for branch in schema:
            yield from walk_fields(branch, seen)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "record" and schema["name"] not in seen:
            seen.add(schema["name"])
            for f in schema["fields"]:
                yield schema["name"], f
                yield from walk_fields(f["type"], seen)
        elif kind == "array":
            yield from walk_fields(schema["items"], seen)
        elif kind == "map":
            yield from walk_fields(schema["values"], seen)
        elif isinstance(kind, (dict, list)):
            yield from walk_fields(kind, seen)


def non_null(type_: Any) -> Any:
    if isinstance(type_, list):
        rest = [t for t in type_ if t != "null"]
        return rest[0] if len(rest) == 1 else rest
    return type_


@pytest.mark.parametrize("topic", TOPICS)
def test_schemas_follow_the_house_conventions(topic: str) -> None:
    domain = topic.split(".")[0]
    expected_ns = {"payments": "payments", "cards": "cards", "transfers": "transfers", "ledger": "ledger",
                   "fraud": "fraud", "kyc": "kyc", "fx": "fx", "accounts": "accounts"}[domain]
    for _, schema in history(topic):
        assert schema["namespace"] == f"com.finsight.{expected_ns}"
        assert schema.get("doc", "").strip()
        for record, f in walk_fields(schema):
            name, type_ = f["name"], f["type"]
            assert SNAKE_CASE.match(name), f"{record}.{name} is not snake_case"
            if isinstance(type_, list):
                assert type_[0] == "null" and "default" in f and f["default"] is None, (
                    f"{record}.{name}: nullable unions put null first and default to null"
                )
            inner = non_null(type_)
            if name == "amount" or name.endswith("_amount") or name.endswith("_limit"):
                assert inner == {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2}, name
            if name.endswith("_at") or name == "as_of" or name == "valid_until":
                assert inner == {"type": "long", "logicalType": "timestamp-millis"}, name
            if name == "currency" or name.endswith("_currency"):
                assert inner == "string", name


@pytest.mark.parametrize("topic", TOPICS)
def test_current_schema_is_the_latest_version_or_a_new_one(topic: str) -> None:
    registered = [load_json(p) for p in version_files(topic)]
    current = load_json(TOPICS_DIR / topic / "schema.avsc")
    if current != registered[-1]:
        # a pending version: it must not bring back an older one, and it must be compatible
        # with the registered history (checked by test_registered_history_is_compatible)
        assert current not in registered, f"{topic}: schema.avsc reverts to an older registered version"
        assert parse_schema(current) != parse_schema(registered[-1])


def test_at_least_two_topics_have_an_evolution_history() -> None:
    evolved = [t for t in TOPICS if len(version_files(t)) >= 2]
    assert len(evolved) >= 2, evolved


# ---------------------------------------------------------------------------------------------
# compatibility, by real round trips


@pytest.mark.parametrize(("topic", "writer_label", "reader_label", "writer", "reader"), ALL_CHECKS)
def test_registered_history_is_compatible(
    topic: str, writer_label: str, reader_label: str, writer: dict, reader: dict
) -> None:
    check_readable(writer, reader)


def test_every_evolved_topic_is_checked() -> None:
    checked = {p.values[0] for p in ALL_CHECKS}
    evolved = {t for t in TOPICS if len(history(t)) >= 2}
    assert evolved <= checked and len(evolved) >= 2


def test_round_trip_detects_an_incompatible_reader() -> None:
    # fraud.signals.v1 v2 adds detector without a default: fine under FORWARD, impossible BACKWARD.
    v1, v2 = (load_json(p) for p in version_files("fraud.signals.v1")[:2])
    with pytest.raises(SchemaResolutionError):
        round_trip(v1, v2)


def test_unknown_enum_symbols_fall_back_to_the_readers_default() -> None:
    v1, v2 = (load_json(p) for p in version_files("fraud.signals.v1")[:2])
    written, read = round_trip(v2, v1)
    pairs = list(zip((w["signal_type"] for w in written), (r["signal_type"] for r in read)))
    assert ("ACCOUNT_TAKEOVER", "OTHER") in pairs and ("MULE_ACCOUNT", "OTHER") in pairs
    assert all(r == w for w, r in pairs if w not in {"ACCOUNT_TAKEOVER", "MULE_ACCOUNT"})


def test_payment_status_added_in_v3_is_not_readable_by_v1() -> None:
    # BACKWARD_TRANSITIVE only: v1 consumers have no enum default, so they must upgrade first.
    v1, _, v3 = (load_json(p) for p in version_files("payments.transactions.v1"))
    with pytest.raises(SchemaResolutionError):
        round_trip(v3, v1)
    written, read = round_trip(v1, v3)
    assert [r["fee_amount"] for r in read] == [None] * len(written)
    assert [r["device"] for r in read] == [None] * len(written)


def test_accounts_v1_records_read_with_v3_get_the_nested_defaults() -> None:
    v1, _, v3 = (load_json(p) for p in version_files("accounts.changes.v1"))
    written, read = round_trip(v1, v3)
    assert {json.dumps(r["flags"], sort_keys=True) for r in read} == {
        json.dumps({"is_joint": False, "overdraft_enabled": False, "paperless_statements": True,
                    "sanctions_hold": False}, sort_keys=True)
    }
    assert all(r["address"] is None for r in read)
    assert [r["account_id"] for r in read] == [w["account_id"] for w in written]
