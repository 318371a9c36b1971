"""Pure transforms of settlement_batches: one settlement line per payment settled on the run date,
grouped in daily batches per merchant and currency.

A line pays the merchant the payment's amount less the merchant service charge (MSC). The ledger posts
every settled payment to the merchant payable: a sub-ledger line under GL codes 2103xx whose source is
the payment. The journal of that posting is the line's `processor_reference`; a line the ledger has
not posted yet has none, which finance's reconciliation (dbt `rpt_reconciliation_breaks`) reports.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from finsight_spark.money import from_minor_units, to_minor_units
from finsight_spark.schemas import conform
from finsight_spark.tables import SETTLEMENTS

PAYMENTS_TABLE = "lake.payments_clean"
LEDGER_TABLE = "lake.ledger_entries"
OUTPUT_TABLE = "lake.settlements"

MERCHANT_PAYABLE_GL_PREFIX = "2103"
PAYMENTS_SOURCE = "payments"
# Merchant service charge per payment method: (percentage of the amount, fixed amount in the payment
# currency's major unit). Card rates are the blended interchange-plus-plus price of the standard plan.
DEFAULT_MSC = ("0.0150", "0.20")
MSC_RATES = {
    "card": ("0.0140", "0.20"),
    "wallet": ("0.0150", "0.10"),
    "sepa_direct_debit": ("0.0035", "0.20"),
    "ach": ("0.0040", "0.25"),
    "wire": ("0.0000", "5.00"),
}


def _msc_rate(index: int) -> Column:
    rate: Column = F.lit(DEFAULT_MSC[index])
    for method, values in MSC_RATES.items():
        rate = F.when(F.col("payment_method") == method, F.lit(values[index])).otherwise(rate)
    return rate.cast("decimal(10,4)")


def settled_payments(payments: DataFrame, run_date: date) -> DataFrame:
    """The payments that settled on `run_date`, each once, with the gross amount and the MSC withheld
    (never more than the gross amount) in minor units."""
    settled = payments.where((F.col("status") == "settled") & (F.to_date("updated_at") == F.lit(run_date)))
    amount = from_minor_units(F.col("amount_minor"), F.col("currency"))
    service_charge = F.least(F.bround(amount * _msc_rate(0) + _msc_rate(1), 2), amount)
    return settled.dropDuplicates(["payment_id"]).withColumns(
        {
            "gross_amount_minor": F.col("amount_minor"),
            "fee_amount_minor": to_minor_units(service_charge, F.col("currency")),
        }
    )


def payable_postings(ledger: DataFrame) -> DataFrame:
    """(payment_id, processor_reference): the journal that credited the merchant payable for a payment
    (the first one, should the ledger have posted it twice)."""
    credits = ledger.where(
        F.col("gl_account_code").startswith(MERCHANT_PAYABLE_GL_PREFIX)
        & (F.col("source_type") == PAYMENTS_SOURCE)
        & (F.col("direction") == "C")
    )
    return credits.groupBy(F.col("source_id").alias("payment_id")).agg(
        F.min_by("journal_id", F.struct("posted_at", "journal_id")).alias("processor_reference")
    )


def settlement_lines(payments: DataFrame, ledger: DataFrame, run_date: date) -> DataFrame:
    """The columns of lake.settlements for `run_date` (before conforming)."""
    lines = settled_payments(payments, run_date).join(payable_postings(ledger), "payment_id", "left")
    batch = F.sha2(F.concat_ws("|", F.col("merchant_id"), F.col("currency"), F.lit(run_date.isoformat())), 256)
    return lines.select(
        F.sha2(F.concat_ws("|", F.lit("settlement"), F.col("payment_id")), 256).alias("settlement_id"),
        batch.alias("settlement_batch_id"),
        "payment_id",
        "merchant_id",
        "currency",
        "gross_amount_minor",
        "fee_amount_minor",
        (F.col("gross_amount_minor") - F.col("fee_amount_minor")).alias("net_amount_minor"),
        F.lit(run_date).alias("settlement_date"),
        F.col("updated_at").alias("settled_at"),
        "processor_reference",
    )


def settlements(payments: DataFrame, ledger: DataFrame, run_date: date) -> DataFrame:
    """lake.settlements for `run_date`."""
    return conform(settlement_lines(payments, ledger, run_date), SETTLEMENTS)
