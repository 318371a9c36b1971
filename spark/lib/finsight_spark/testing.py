"""Test support for job authors: valid topic records and publishing them as topic files.

Every factory returns a record that is valid against the topic's current schema; keyword arguments
replace top-level fields::

    source = TopicSource.files(tmp_path / "topics")
    publish(source, "payments.transactions.v1", [payment_event(transaction_id="t1", status="SETTLED")],
            schema_root=schema_root)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from finsight_spark.avro import encode_record, load_topic_schema
from finsight_spark.io import write_partition
from finsight_spark.tables import partitioned, schema_of
from finsight_spark.topics import TopicSource, write_topic_file

# The Kafka key of each topic, as the producers set it.
TOPIC_KEYS: Mapping[str, str] = {
    "payments.transactions.v1": "transaction_id",
    "cards.authorizations.v1": "card_id",
    "transfers.events.v1": "transfer_id",
    "ledger.entries.v1": "journal_id",
    "fraud.signals.v1": "entity_id",
    "kyc.events.v1": "customer_id",
    "fx.rates.v1": "base_currency",  # with quote currency and rate type, see message_key
    "accounts.changes.v1": "account_id",
}

# Kafka timestamps of the records, when a test does not set them: the record's own event time.
TOPIC_EVENT_TIME: Mapping[str, str] = {
    "payments.transactions.v1": "updated_at",
    "cards.authorizations.v1": "decided_at",
    "transfers.events.v1": "occurred_at",
    "ledger.entries.v1": "booked_at",
    "fraud.signals.v1": "detected_at",
    "kyc.events.v1": "occurred_at",
    "fx.rates.v1": "published_at",
    "accounts.changes.v1": "changed_at",
}


def at(text: str) -> datetime:
    """An aware UTC datetime from `2024-05-01T10:00:00`."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def stable_uuid(*parts: object) -> str:
    """A deterministic UUID for test ids, so reruns produce identical data."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "finsight:" + ":".join(str(part) for part in parts)))


def _merge(defaults: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(overrides) - set(defaults)
    if unknown:
        raise KeyError(f"not fields of the record: {sorted(unknown)}")
    return {**defaults, **overrides}


def payment_event(**overrides: Any) -> dict[str, Any]:
    transaction_id = overrides.get("transaction_id", "01HXPAY0000000000000000001")
    status = overrides.get("status", "CAPTURED")
    defaults = {
        "event_id": stable_uuid("payment", transaction_id, status),
        "transaction_id": transaction_id,
        "account_id": "acc-0001",
        "customer_id": "cus-0001",
        "amount": Decimal("42.50"),
        "currency": "EUR",
        "fee_amount": None,
        "status": status,
        "payment_method": "CARD",
        "channel": "ECOMMERCE",
        "merchant": {"merchant_id": "mer-0001", "name": "NORDIC GROCERS", "mcc": "5411", "country_code": "DE", "city": "Berlin"},
        "card": {"card_id": "card-0001", "bin": "453201", "last4": "4242", "network": "VISA", "funding_type": "DEBIT"},
        "device": {"device_id": "dev-0001", "ip_address": "203.0.113.7", "user_agent": "FinSight/8.2 iOS", "os_family": "iOS"},
        "created_at": at("2024-05-01T10:00:00"),
        "updated_at": at("2024-05-01T10:00:05"),
        "metadata": {"trace_id": "trace-" + transaction_id[-6:], "producer": "payments-core", "producer_version": "5.12.0"},
    }
    return _merge(defaults, overrides)


def card_authorization(**overrides: Any) -> dict[str, Any]:
    authorization_id = overrides.get("authorization_id", stable_uuid("auth", 1))
    defaults = {
        "authorization_id": authorization_id,
        "card_id": "card-0001",
        "account_id": "acc-0001",
        "customer_id": "cus-0001",
        "card": {
            "bin": "453201",
            "last4": "4242",
            "network": "VISA",
            "funding_type": "DEBIT",
            "expiry_month": 9,
            "expiry_year": 2027,
            "is_virtual": False,
        },
        "merchant": {"merchant_id": "mer-0001", "name": "NORDIC GROCERS", "mcc": "5411", "country_code": "DE", "terminal_id": "T0042"},
        "transaction_amount": Decimal("42.50"),
        "transaction_currency": "EUR",
        "billing_amount": Decimal("42.50"),
        "billing_currency": "EUR",
        "auth_type": "PURCHASE",
        "entry_mode": "CONTACTLESS",
        "wallet_provider": None,
        "is_card_present": True,
        "three_ds": None,
        "decision": "APPROVED",
        "response_code": "00",
        "stand_in": False,
        "decline_reason": None,
        "network_transaction_id": "VTID" + authorization_id[:8],
        "requested_at": at("2024-05-01T10:00:00"),
        "decided_at": at("2024-05-01T10:00:00.180000"),
        "headers": {"trace_id": "trace-" + authorization_id[:6], "producer": "issuer-processor"},
    }
    return _merge(defaults, overrides)


def fraud_signal(**overrides: Any) -> dict[str, Any]:
    defaults = {
        "signal_id": stable_uuid("signal", overrides.get("entity_id", "card-0001"), overrides.get("detected_at", "")),
        "entity_type": "CARD",
        "entity_id": "card-0001",
        "source_event_id": None,
        "signal_type": "VELOCITY",
        "score": 0.35,
        "severity": "MEDIUM",
        "detector": {"kind": "RULE_ENGINE", "name": "card-velocity-1h", "version": "rules-2024.11.2"},
        "detected_at": at("2024-05-01T10:00:01"),
        "expires_at": None,
        "attributes": {"txn_count_1h": "6"},
    }
    return _merge(defaults, overrides)


def transfer_event(**overrides: Any) -> dict[str, Any]:
    transfer_id = overrides.get("transfer_id", "trf-0001")
    event_type = overrides.get("event_type", "INITIATED")
    defaults = {
        "event_id": stable_uuid("transfer", transfer_id, event_type),
        "transfer_id": transfer_id,
        "event_type": event_type,
        "rail": "SEPA_CREDIT_TRANSFER",
        "direction": "OUTBOUND",
        "source": {
            "account_id": "acc-0001",
            "institution_id": "FSDEDEFFXXX",
            "account_number_masked": "DE**************1234",
            "country_code": "DE",
            "holder_type": "INDIVIDUAL",
        },
        "destination": {
            "account_id": None,
            "institution_id": "BNPAFRPPXXX",
            "account_number_masked": "FR************************5678",
            "country_code": "FR",
            "holder_type": "INDIVIDUAL",
        },
        "amount": Decimal("250.00"),
        "currency": "EUR",
        "fx": None,
        "reference": "Rent May",
        "failure_code": None,
        "initiated_by": "CUSTOMER",
        "occurred_at": at("2024-05-01T09:00:00"),
        "value_date": None,
        "headers": {"producer": "transfers-service"},
    }
    return _merge(defaults, overrides)


def ledger_entry(**overrides: Any) -> dict[str, Any]:
    journal_id = overrides.get("journal_id", "jnl-0001")
    line_number = overrides.get("line_number", 1)
    defaults = {
        "entry_id": stable_uuid("entry", journal_id, line_number),
        "journal_id": journal_id,
        "line_number": line_number,
        "legal_entity": "FS-IE",
        "ledger_account_id": "cust:acc-0001",
        "gl_account_code": "210100",
        "entry_side": "DEBIT",
        "amount": Decimal("42.50"),
        "currency": "EUR",
        "functional_amount": Decimal("42.50"),
        "functional_currency": "EUR",
        "source_system": "PAYMENTS",
        "source_reference": "01HXPAY0000000000000000001",
        "posting_date": date(2024, 5, 1),
        "value_date": date(2024, 5, 1),
        "booked_at": at("2024-05-01T18:00:00"),
        "reversal_of": None,
        "memo": None,
        "metadata": {"producer": "ledger-core"},
    }
    return _merge(defaults, overrides)


def kyc_event(**overrides: Any) -> dict[str, Any]:
    check_id = overrides.get("check_id", "chk-0001")
    event_type = overrides.get("event_type", "CHECK_STARTED")
    defaults = {
        "event_id": stable_uuid("kyc", check_id, event_type),
        "customer_id": "cus-0001",
        "check_id": check_id,
        "event_type": event_type,
        "check_level": "STANDARD",
        "provider": "ONFIDO",
        "document": None,
        "screening": None,
        "risk_rating": None,
        "reason_codes": [],
        "reviewer_id": None,
        "jurisdiction": "IE",
        "occurred_at": at("2024-05-01T08:00:00"),
        "metadata": {"producer": "kyc-orchestrator"},
    }
    return _merge(defaults, overrides)


def fx_rate(**overrides: Any) -> dict[str, Any]:
    defaults = {
        "base_currency": "EUR",
        "quote_currency": "USD",
        "rate_type": "MID",
        "rate": Decimal("1.08000000"),
        "markup_bps": None,
        "source": "REFINITIV",
        "sequence": 1,
        "as_of": at("2024-05-01T16:00:00"),
        "valid_until": None,
        "published_at": at("2024-05-01T16:00:01"),
    }
    return _merge(defaults, overrides)


def account_change(**overrides: Any) -> dict[str, Any]:
    account_id = overrides.get("account_id", "acc-0001")
    changed_at = overrides.get("changed_at", at("2024-05-01T09:00:00"))
    defaults = {
        "change_id": stable_uuid("account", account_id, changed_at),
        "account_id": account_id,
        "customer_id": "cus-0001",
        "change_type": "OPENED",
        "account_type": "CURRENT",
        "status": "ACTIVE",
        "currency": "EUR",
        "product_code": "CUR-STD-EUR",
        "overdraft_limit": None,
        "address": {"country_code": "IE", "region": None, "city": "Dublin", "postal_code": "D02"},
        "flags": {"is_joint": False, "overdraft_enabled": False, "paperless_statements": True, "sanctions_hold": False},
        "opened_at": at("2024-05-01T09:00:00"),
        "closed_at": None,
        "changed_at": changed_at,
        "changed_by": "accounts-service",
        "changed_fields": [],
    }
    return _merge(defaults, overrides)


def message_key(topic: str, record: Mapping[str, Any]) -> str:
    """The Kafka key a producer sets for `record` (fx.rates.v1 is compacted on `<base><quote>:<rate_type>`)."""
    if topic == "fx.rates.v1":
        return f"{record['base_currency']}{record['quote_currency']}:{record['rate_type']}"
    return str(record[TOPIC_KEYS[topic]])


def kafka_frame(
    spark: SparkSession,
    topic: str,
    records: Iterable[Mapping[str, Any]],
    *,
    schema_root: str | os.PathLike[str] | None = None,
    raw_values: Iterable[bytes] = (),
) -> DataFrame:
    """An in-memory Kafka-shaped frame (what `read_topic` returns) holding `records` encoded as producers do."""
    schema = load_topic_schema(topic, schema_root)
    rows = []
    items = list(records)
    for offset, record in enumerate(items):
        stamp = record[TOPIC_EVENT_TIME[topic]]
        rows.append((message_key(topic, record).encode("utf-8"), encode_record(record, schema), topic, 0, offset, stamp, 0))
    last = items[-1][TOPIC_EVENT_TIME[topic]] if items else at("2024-05-01T00:00:00")
    rows.extend((None, raw, topic, 0, len(items) + index, last, 0) for index, raw in enumerate(raw_values))
    ddl = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp, timestampType int"
    return spark.createDataFrame(rows, ddl)


def publish(
    source: TopicSource,
    topic: str,
    records: Iterable[Mapping[str, Any]],
    *,
    schema_root: str | os.PathLike[str] | None = None,
    file_name: str = "part-00000.json",
    first_offset: int = 0,
    timestamps: Iterable[datetime] | None = None,
    raw_values: Iterable[bytes] = (),
) -> None:
    """Encode `records` with the topic's schema (Glue framing) and write them as one topic file.

    Kafka timestamps default to each record's event time; `raw_values` appends undecodable payloads.
    """
    schema = load_topic_schema(topic, schema_root)
    items = list(records)
    stamps = list(timestamps) if timestamps is not None else [record[TOPIC_EVENT_TIME[topic]] for record in items]
    values = [(message_key(topic, record), encode_record(record, schema), stamp) for record, stamp in zip(items, stamps)]
    fallback = stamps[-1] if stamps else at("2024-05-01T00:00:00")
    values.extend((None, raw, fallback) for raw in raw_values)
    write_topic_file(source, topic, file_name, values, first_offset=first_offset)


def table_frame(spark: SparkSession, name: str, rows: Iterable[Mapping[str, Any]]) -> DataFrame:
    """An in-memory frame with the contract of lake table `name`; columns a row omits are null.

    A `ds` key in a row is kept as the partition column.
    """
    schema = schema_of(name)
    items = [dict(row) for row in rows]
    known = {field.name for field in schema.fields} | {"ds"}
    for row in items:
        unknown = set(row) - known
        if unknown:
            raise KeyError(f"not columns of {name}: {sorted(unknown)}")
    with_ds = any("ds" in row for row in items)
    fields = [field.name for field in schema.fields]
    data = [tuple(row.get(field) for field in fields) + ((row.get("ds"),) if with_ds else ()) for row in items]
    return spark.createDataFrame(data, partitioned(schema) if with_ds else schema)


def seed_table(spark: SparkSession, base_path: str, name: str, ds: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write `rows` as partition `ds` of lake table `name`, as its producing job would."""
    write_partition(table_frame(spark, name, rows), base_path, name, ds=ds)
