"""Pure transforms of ledger_ingest: ledger lines with signed amounts, the double-entry check, and the
published columns (direction D/C, amounts in minor units, the customer account of sub-ledger lines)."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from finsight_spark.money import MONEY, is_iso_currency, to_minor_units
from finsight_spark.schemas import code, conform
from finsight_spark.tables import LEDGER_ENTRIES

TOPIC = "ledger.entries.v1"
OUTPUT_TABLE = "lake.ledger_entries"
# Ledger accounts of the customer deposits sub-ledger are named `cust:<account_id>`.
CUSTOMER_ACCOUNT_PATTERN = r"^cust:(.+)$"


def _signed(amount: str) -> F.Column:
    """Debits positive, credits negative: a balanced journal sums to zero."""
    return F.when(F.col("entry_side") == "DEBIT", F.col(amount)).otherwise(-F.col(amount)).cast(MONEY)


def ledger_lines(decoded: DataFrame) -> DataFrame:
    """Valid ledger lines, each entry_id once, with signed amounts."""
    record = F.col("record")
    lines = decoded.where(F.col("decode_error").isNull()).select(
        record.entry_id.alias("entry_id"),
        record.journal_id.alias("journal_id"),
        record.line_number.alias("line_number"),
        record.legal_entity.alias("legal_entity"),
        record.ledger_account_id.alias("ledger_account_id"),
        record.gl_account_code.alias("gl_account_code"),
        record.entry_side.alias("entry_side"),
        record.amount.alias("amount"),
        F.upper(record.currency).alias("currency"),
        record.functional_amount.alias("functional_amount"),
        F.upper(record.functional_currency).alias("functional_currency"),
        record.source_system.alias("source_system"),
        record.source_reference.alias("source_reference"),
        record.posting_date.alias("posting_date"),
        record.value_date.alias("value_date"),
        record.booked_at.alias("booked_at"),
        record.reversal_of.alias("reversal_of"),
        F.col("kafka_timestamp"),
    )
    valid = F.col("journal_id").isNotNull() & (F.col("amount") >= 0) & is_iso_currency(F.col("currency"))
    return (
        lines.where(valid)
        .dropDuplicates(["entry_id"])
        .withColumns(
            {
                "signed_amount": _signed("amount"),
                "signed_functional_amount": _signed("functional_amount"),
                "is_reversal": F.col("reversal_of").isNotNull(),
            }
        )
    )


def unbalanced_journals(lines: DataFrame) -> DataFrame:
    """(journal_id, basis, currency, imbalance) of every journal whose lines do not sum to zero, in the
    transaction currency or in the functional currency (FX rounding is booked as its own line)."""
    by_currency = (
        lines.groupBy("journal_id", "currency")
        .agg(F.lit("transaction").alias("basis"), F.sum("signed_amount").alias("imbalance"))
        .where(F.col("imbalance") != 0)
    )
    functional = (
        lines.groupBy("journal_id", F.col("functional_currency").alias("currency"))
        .agg(F.lit("functional").alias("basis"), F.sum("signed_functional_amount").alias("imbalance"))
        .where(F.col("imbalance") != 0)
    )
    return by_currency.unionByName(functional)


def published(lines: DataFrame) -> DataFrame:
    """The columns of lake.ledger_entries: `D`/`C` lines with positive amounts in minor units, the
    customer account of deposit sub-ledger lines, the source system as the source type."""
    customer_account = F.regexp_extract("ledger_account_id", CUSTOMER_ACCOUNT_PATTERN, 1)
    return lines.select(
        "entry_id",
        "journal_id",
        "gl_account_code",
        F.when(customer_account != "", customer_account).alias("account_id"),
        F.when(F.col("entry_side") == "DEBIT", "D").otherwise("C").alias("direction"),
        to_minor_units(F.col("amount"), F.col("currency")).alias("amount_minor"),
        "currency",
        code(F.col("source_system")).alias("source_type"),
        F.col("source_reference").alias("source_id"),
        F.col("booked_at").alias("posted_at"),
        F.col("posting_date").alias("effective_date"),
        F.col("kafka_timestamp").alias("created_at"),
    )


def ledger_entries(lines: DataFrame) -> DataFrame:
    """lake.ledger_entries from one day's ledger lines (`ledger_lines(decoded)`)."""
    return conform(published(lines), LEDGER_ENTRIES)
