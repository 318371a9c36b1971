"""Pure transforms of settlement_batches: settle the day's payments per merchant and match the ledger.

Every settled, refunded or charged-back payment moves the merchant payable: the ledger posts it to a
sub-ledger account `merchant:<merchant_id>` under GL codes 2103xx, with the payment's transaction id
as source reference. A payment matches when the ledger moved the payable by exactly its amount.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from finsight_spark.schemas import conform
from finsight_spark.tables import SETTLEMENTS

PAYMENTS_TABLE = "lake.payments_clean"
LEDGER_TABLE = "lake.ledger_entries"
OUTPUT_TABLE = "lake.settlements"

MERCHANT_PAYABLE_GL_PREFIX = "2103"
MERCHANT_ACCOUNT_PATTERN = r"^merchant:(.+)$"
SETTLEMENT_STATUSES = ("SETTLED", "REFUNDED", "CHARGED_BACK")
# Merchant service charge: (percentage of the amount, fixed amount in the payment currency).
DEFAULT_MSC = ("0.0150", "0.20")
MSC_RATES = {
    ("CARD", "CREDIT"): ("0.0180", "0.20"),
    ("CARD", "DEBIT"): ("0.0090", "0.20"),
    ("CARD", "PREPAID"): ("0.0120", "0.20"),
    ("WALLET", None): ("0.0150", "0.10"),
    ("SEPA_DIRECT_DEBIT", None): ("0.0035", "0.20"),
    ("ACH", None): ("0.0040", "0.25"),
    ("WIRE", None): ("0.0000", "5.00"),
}
AMOUNT = "decimal(20,2)"


def _msc_rate(index: int) -> Column:
    rate: Column = F.lit(DEFAULT_MSC[index])
    for (method, funding), values in MSC_RATES.items():
        match = F.col("payment_method") == method
        if funding is not None:
            match = match & (F.col("card_funding_type") == funding)
        rate = F.when(match, F.lit(values[index])).otherwise(rate)
    return rate.cast("decimal(10,4)")


def settlement_movements(payments: DataFrame, run_date: date) -> DataFrame:
    """The payable movement of every payment that settled, was refunded or charged back on `run_date`:
    positive for a settlement, negative for money taken back from the merchant."""
    moved = payments.where(
        F.col("status").isin(*SETTLEMENT_STATUSES) & (F.to_date("updated_at") == F.lit(run_date))
    )
    settled = F.col("status") == "SETTLED"
    service_charge = F.bround(F.col("amount") * _msc_rate(0) + _msc_rate(1), 2)
    return moved.select(
        "transaction_id",
        "merchant_id",
        "currency",
        "status",
        "amount",
        F.when(settled, F.col("amount")).otherwise(-F.col("amount")).cast(AMOUNT).alias("payable_movement"),
        F.when(settled, service_charge).otherwise(F.lit(0)).cast(AMOUNT).alias("service_charge"),
    )


def payable_postings(ledger: DataFrame) -> DataFrame:
    """Per (merchant, currency, transaction): the net credit the ledger posted to the merchant payable."""
    payable = ledger.where(
        F.col("gl_account_code").startswith(MERCHANT_PAYABLE_GL_PREFIX) & (F.col("source_system") == "PAYMENTS")
    ).withColumn("merchant_id", F.regexp_extract("ledger_account_id", MERCHANT_ACCOUNT_PATTERN, 1))
    return payable.groupBy("merchant_id", "currency", F.col("source_reference").alias("transaction_id")).agg(
        (-F.sum("signed_amount")).cast(AMOUNT).alias("ledger_movement")  # a credit raises the payable
    )


def reconcile(movements: DataFrame, postings: DataFrame, run_date: date) -> DataFrame:
    """One batch per (merchant, currency): totals, net payout and the ledger match."""
    matched = movements.join(postings, ["merchant_id", "currency", "transaction_id"], "full_outer")
    in_both = F.col("payable_movement").isNotNull() & F.col("ledger_movement").isNotNull()
    agrees = in_both & (F.col("payable_movement") == F.col("ledger_movement"))
    totals = matched.groupBy("merchant_id", "currency").agg(
        F.count(F.when(F.col("status") == "SETTLED", True)).alias("settled_count"),
        F.sum(F.when(F.col("status") == "SETTLED", F.col("amount"))).alias("gross_amount"),
        F.sum(F.when(F.col("status") == "REFUNDED", F.col("amount"))).alias("refund_amount"),
        F.sum(F.when(F.col("status") == "CHARGED_BACK", F.col("amount"))).alias("chargeback_amount"),
        F.sum("service_charge").alias("merchant_service_charge"),
        F.sum("payable_movement").alias("_expected"),
        F.sum("ledger_movement").alias("ledger_amount"),
        F.count(F.when(agrees, True)).alias("matched_count"),
        F.count(F.when(F.col("payable_movement").isNotNull() & ~F.coalesce(agrees, F.lit(False)), True)).alias(
            "unmatched_payment_count"
        ),
        F.count(F.when(F.col("payable_movement").isNull(), True)).alias("unmatched_ledger_count"),
        F.count("ledger_movement").alias("_ledger_rows"),
    )
    zero = F.lit(0).cast(AMOUNT)
    amounts = {name: F.coalesce(F.col(name), zero).cast(AMOUNT) for name in (
        "gross_amount", "refund_amount", "chargeback_amount", "merchant_service_charge", "_expected", "ledger_amount"
    )}
    status = (
        F.when(F.col("_ledger_rows") == 0, "UNPOSTED")
        .when(
            (F.col("unmatched_payment_count") == 0) & (F.col("unmatched_ledger_count") == 0)
            & (F.col("ledger_difference") == 0),
            "MATCHED",
        )
        .otherwise("MISMATCH")
    )
    batches = (
        totals.withColumns(amounts)
        .withColumns(
            {
                "net_amount": (
                    F.col("gross_amount") - F.col("refund_amount") - F.col("chargeback_amount")
                    - F.col("merchant_service_charge")
                ).cast(AMOUNT),
                "ledger_difference": (F.col("ledger_amount") - F.col("_expected")).cast(AMOUNT),
                "settlement_date": F.lit(run_date),
                "settlement_batch_id": F.sha2(
                    F.concat_ws("|", F.col("merchant_id"), F.col("currency"), F.lit(run_date.isoformat())), 256
                ),
            }
        )
        .withColumn("reconciliation_status", status)
    )
    return batches


def settlements(payments: DataFrame, ledger: DataFrame, run_date: date) -> DataFrame:
    """lake.settlements for `run_date`."""
    batches = reconcile(settlement_movements(payments, run_date), payable_postings(ledger), run_date)
    return conform(batches, SETTLEMENTS)
