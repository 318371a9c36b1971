"""Pure transforms of chargeback_ingest: payments whose latest state of the day is CHARGED_BACK."""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from finsight_spark.money import MONEY
from finsight_spark.schemas import conform
from finsight_spark.tables import CHARGEBACKS

PAYMENTS_TABLE = "lake.payments_clean"
OUTPUT_TABLE = "lake.chargebacks"

# Days a payer has to dispute, from the payment: card schemes' standard 120 days, SEPA Core direct
# debits 8 weeks (unconditional refund right), ACH 60 days for consumer returns.
CARD_DISPUTE_WINDOW_DAYS = 120
DISPUTE_WINDOW_DAYS = {"SEPA_DIRECT_DEBIT": 56, "ACH": 60, "WALLET": 120}
# Handling fee FinSight is charged per dispute, in USD.
CHARGEBACK_FEE_USD = {"CARD": "15.00", "WALLET": "15.00", "SEPA_DIRECT_DEBIT": "7.50", "ACH": "5.00"}


def _by_method(mapping: dict, default: Column) -> Column:
    result = default
    for method, value in mapping.items():
        result = F.when(F.col("payment_method") == method, F.lit(value)).otherwise(result)
    return result


def chargebacks(payments: DataFrame, run_date: date) -> DataFrame:
    """lake.chargebacks for `run_date` from that day's lake.payments_clean partition.

    `chargeback_id` is derived from the transaction, so it is stable across reruns and consumers can
    deduplicate a chargeback whose payment changes again on a later day.
    """
    charged_back = payments.where(
        (F.col("status") == "CHARGED_BACK") & (F.to_date("updated_at") == F.lit(run_date))
    )
    window = _by_method(DISPUTE_WINDOW_DAYS, F.when(F.col("payment_method") == "CARD", F.lit(CARD_DISPUTE_WINDOW_DAYS)))
    days = F.datediff(F.to_date("updated_at"), F.to_date("created_at"))
    enriched = charged_back.select(
        "*",
        F.sha2(F.concat_ws("|", F.lit("chargeback"), F.col("transaction_id")), 256).alias("chargeback_id"),
        F.col("created_at").alias("payment_created_at"),
        F.col("updated_at").alias("charged_back_at"),
        days.alias("days_to_chargeback"),
        window.cast("int").alias("dispute_window_days"),
        (days <= window).alias("is_within_dispute_window"),
        _by_method(CHARGEBACK_FEE_USD, F.lit("0.00")).cast(MONEY).alias("chargeback_fee_usd"),
    )
    return conform(enriched, CHARGEBACKS)
