from __future__ import annotations

from decimal import Decimal

import pytest

from finsight_spark.avro import decode_value, load_topic_schema
from finsight_spark.dq import DataQualityError
from finsight_spark.io import read_table
from finsight_spark.testing import kafka_frame, ledger_entry, publish
from finsight_spark.topics import TopicSource
from ledger_ingest.main import build_parser, run
from ledger_ingest.transforms import OUTPUT_TABLE, TOPIC, ledger_entries, ledger_lines, unbalanced_journals


def journal(journal_id, amounts, currency="EUR", functional=None):
    """Lines of one journal: positive amounts are debits, negative credits."""
    lines = []
    for number, amount in enumerate(amounts, start=1):
        value = Decimal(amount)
        lines.append(ledger_entry(
            journal_id=journal_id, line_number=number, entry_side="DEBIT" if value > 0 else "CREDIT",
            amount=abs(value), currency=currency, functional_amount=abs(value) if functional is None else Decimal(functional[number - 1]),
            ledger_account_id=f"acct-{number}",
        ))
    return lines


def _lines(spark, schema_root, records):
    decoded = decode_value(kafka_frame(spark, TOPIC, records, schema_root=schema_root), load_topic_schema(TOPIC, schema_root))
    return ledger_lines(decoded)


def test_signs_amounts_and_finds_unbalanced_journals(spark, schema_root):
    balanced = journal("j1", ["100.00", "-97.50", "-2.50"])
    fx_journal = journal("j2", ["50.00", "-50.00"], currency="USD", functional=["46.30", "46.29"])
    broken = journal("j3", ["10.00", "-9.99"])
    lines = _lines(spark, schema_root, balanced + fx_journal + broken + [balanced[0]]).cache()

    signed = {(r.journal_id, r.line_number): r.signed_amount for r in lines.collect()}
    assert signed[("j1", 1)] == Decimal("100.00") and signed[("j1", 2)] == Decimal("-97.50")
    assert lines.count() == 7  # the replayed line is dropped
    problems = sorted((r.journal_id, r.basis, r.currency, r.imbalance) for r in unbalanced_journals(lines).collect())
    assert problems == [
        ("j2", "functional", "EUR", Decimal("0.01")),
        ("j3", "functional", "EUR", Decimal("0.01")),
        ("j3", "transaction", "EUR", Decimal("0.01")),
    ]
    lines.unpersist()


def test_published_lines_are_positive_minor_units_with_a_direction(spark, schema_root):
    records = [
        ledger_entry(journal_id="j1", line_number=1, entry_side="DEBIT", amount=Decimal("42.50"),
                     ledger_account_id="cust:acc-0001", source_reference="01HXPAY01"),
        ledger_entry(journal_id="j1", line_number=2, entry_side="CREDIT", amount=Decimal("42.50"),
                     ledger_account_id="merchant:mer-0001", gl_account_code="210300", source_reference="01HXPAY01"),
        ledger_entry(journal_id="j2", line_number=1, entry_side="DEBIT", amount=Decimal("1.23"), currency="KWD",
                     functional_amount=Decimal("3.70"), ledger_account_id="fees:kw"),
    ]
    rows = {(r.journal_id, r.direction): r for r in ledger_entries(_lines(spark, schema_root, records)).collect()}

    debit, credit = rows[("j1", "D")], rows[("j1", "C")]
    assert (debit.account_id, debit.amount_minor, debit.source_type, debit.source_id) == ("acc-0001", 4250, "payments", "01HXPAY01")
    assert (credit.account_id, credit.amount_minor, credit.gl_account_code) == (None, 4250, "210300")
    assert (debit.effective_date.isoformat(), debit.posted_at.isoformat()) == ("2024-05-01", "2024-05-01T18:00:00")
    assert debit.created_at == debit.posted_at  # the Kafka timestamp of the line
    assert rows[("j2", "D")].amount_minor == 1230  # fils: the dinar has three decimals


def test_run_refuses_to_land_an_unbalanced_day(spark, schema_root, tmp_path, lake):
    good, bad = TopicSource.files(tmp_path / "good"), TopicSource.files(tmp_path / "bad")
    publish(good, TOPIC, journal("j1", ["25.00", "-25.00"]) + journal("j2", ["7.10", "-7.10"]), schema_root=schema_root)
    publish(bad, TOPIC, journal("j9", ["25.00", "-24.00"]), schema_root=schema_root)
    argv = ["--run-date", "2024-05-01", "--base-path", lake, "--schema-root", str(schema_root), "--source", "files"]
    args = build_parser().parse_args([*argv, "--source-path", good.location])
    run(spark, args, good)
    run(spark, args, good)
    assert read_table(spark, lake, OUTPUT_TABLE).count() == 4

    with pytest.raises(DataQualityError, match="journals balance"):
        run(spark, args, bad)
    assert read_table(spark, lake, OUTPUT_TABLE).count() == 4  # the balanced load stays as it was
