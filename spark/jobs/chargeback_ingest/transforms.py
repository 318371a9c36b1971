"""Pure transforms of chargeback_ingest: payments whose latest state of the day is charged back.

payments-core moves a payment to `charged_back` when the card scheme raises the dispute, so each such
payment opens one chargeback. The payment events carry no dispute details: the scheme's reason code
and the resolution are left empty here (the acquirer's dispute file is reconciled against this table
in Airflow, `recon_chargebacks_vs_acquirer`).
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from finsight_spark.schemas import conform
from finsight_spark.tables import CHARGEBACKS

PAYMENTS_TABLE = "lake.payments_clean"
OUTPUT_TABLE = "lake.chargebacks"
OPENED = "opened"


def charged_back_payments(payments: DataFrame, run_date: date) -> DataFrame:
    """The payments of the day's partition that were charged back on `run_date`, with the days from
    payment to chargeback (the job checks it is never negative)."""
    return payments.where(
        (F.col("status") == "charged_back") & (F.to_date("updated_at") == F.lit(run_date))
    ).withColumn("days_to_chargeback", F.datediff(F.to_date("updated_at"), F.to_date("created_at")))


def published(charged_back: DataFrame) -> DataFrame:
    """The columns of lake.chargebacks.

    `chargeback_id` is derived from the payment, so it is stable across reruns and consumers can
    deduplicate a chargeback whose payment changes again on a later day.
    """
    return charged_back.select(
        F.sha2(F.concat_ws("|", F.lit("chargeback"), F.col("payment_id")), 256).alias("chargeback_id"),
        "payment_id",
        F.col("card_network").alias("network"),
        F.lit(None).cast("string").alias("reason_code"),
        F.lit(OPENED).alias("status"),
        "currency",
        "amount_minor",
        F.col("updated_at").alias("opened_at"),
        F.lit(None).cast("timestamp").alias("resolved_at"),
    )


def chargebacks(payments: DataFrame, run_date: date) -> DataFrame:
    """lake.chargebacks for `run_date` from that day's lake.payments_clean partition."""
    return conform(published(charged_back_payments(payments, run_date)), CHARGEBACKS)
