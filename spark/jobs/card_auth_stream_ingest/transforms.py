"""Pure transforms of the card authorization ingest stream.

The table holds what the card consumers read of every decision: ids, network, entry mode, merchant
category and country, the ISO 8583 response code, the transaction amount in minor units and the 3-D
Secure result, with the Kafka coordinates for completeness checks. An undecodable payload is not
landed (consumers key on authorization_id); it stays on the topic for the issuer team to replay.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from finsight_spark.money import to_minor_units
from finsight_spark.schemas import code, conform
from finsight_spark.tables import CARD_AUTHORIZATIONS_RAW, partitioned

TOPIC = "cards.authorizations.v1"
OUTPUT_TABLE = "lake.card_authorizations_raw"

# The issuer processor re-publishes a decision when its acknowledgement times out (within seconds).
DEDUP_WATERMARK = "30 minutes"


def flatten_authorizations(decoded: DataFrame) -> DataFrame:
    """One row per decodable authorization message, in the table's columns; `ds` is the request date."""
    record = F.col("record")
    currency = F.upper(record.transaction_currency)
    return decoded.where(F.col("decode_error").isNull()).select(
        record.authorization_id.alias("authorization_id"),
        record.card_id.alias("card_id"),
        record.account_id.alias("account_id"),
        record.merchant.merchant_id.alias("merchant_id"),
        # The issuer processor does not know the payment an approval turns into: payments-core links
        # them downstream, so the column is empty here.
        F.lit(None).cast("string").alias("payment_id"),
        code(record.card.network).alias("network"),
        code(record.entry_mode).alias("entry_mode"),
        F.lpad(record.merchant.mcc, 4, "0").alias("mcc"),
        record.response_code.alias("response_code"),
        currency.alias("currency"),
        to_minor_units(record.transaction_amount, currency).alias("amount_minor"),
        record.decided_at.alias("authorized_at"),
        F.col("kafka_partition"),
        F.col("kafka_offset"),
        F.col("kafka_timestamp").alias("ingested_at"),
        F.upper(record.merchant.country_code).alias("merchant_country"),
        code(record.three_ds.authentication_result).alias("three_ds_result"),
        F.date_format(F.coalesce(record.requested_at, F.col("kafka_timestamp")), "yyyy-MM-dd").alias("ds"),
    )


def deduplicate_authorizations(authorizations: DataFrame) -> DataFrame:
    """Keep the first copy of each authorization_id seen within the watermark."""
    if authorizations.isStreaming:
        return authorizations.withWatermark("ingested_at", DEDUP_WATERMARK).dropDuplicatesWithinWatermark(
            ["authorization_id"]
        )
    return authorizations.dropDuplicates(["authorization_id"])  # a replay or a test: one window


def card_authorizations_raw(decoded: DataFrame) -> DataFrame:
    """lake.card_authorizations_raw from decoded Kafka records."""
    return conform(deduplicate_authorizations(flatten_authorizations(decoded)), partitioned(CARD_AUTHORIZATIONS_RAW))
