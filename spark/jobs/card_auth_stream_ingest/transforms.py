"""Pure transforms of the card authorization ingest stream."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from finsight_spark.schemas import conform
from finsight_spark.tables import CARD_AUTHORIZATIONS_RAW, partitioned

TOPIC = "cards.authorizations.v1"
OUTPUT_TABLE = "lake.card_authorizations_raw"

# The issuer processor re-publishes a decision when its acknowledgement times out (within seconds).
DEDUP_WATERMARK = "30 minutes"
APPROVED_DECISIONS = ("APPROVED", "PARTIALLY_APPROVED")
# ISO 8583 field 39 codes that mean "approved" even when the decision enum lags behind a network change.
APPROVAL_RESPONSE_CODES = ("00", "08", "10", "11")


def is_approved(decision: Column, response_code: Column) -> Column:
    """True when the issuer approved the request (fully or partially)."""
    return decision.isin(*APPROVED_DECISIONS) | (decision.isNull() & response_code.isin(*APPROVAL_RESPONSE_CODES))


def flatten_authorizations(decoded: DataFrame) -> DataFrame:
    """One column per authorization attribute, with approval flag and decision latency."""
    record = F.col("record")
    latency_ms = F.unix_millis(record.decided_at) - F.unix_millis(record.requested_at)
    return decoded.select(
        record.authorization_id.alias("authorization_id"),
        record.card_id.alias("card_id"),
        record.account_id.alias("account_id"),
        record.customer_id.alias("customer_id"),
        record.card.bin.alias("card_bin"),
        record.card.last4.alias("card_last4"),
        record.card.network.alias("card_network"),
        record.card.funding_type.alias("card_funding_type"),
        record.card.is_virtual.alias("is_virtual_card"),
        record.merchant.merchant_id.alias("merchant_id"),
        F.trim(record.merchant["name"]).alias("merchant_name"),
        F.lpad(record.merchant.mcc, 4, "0").alias("merchant_mcc"),
        F.upper(record.merchant.country_code).alias("merchant_country"),
        record.merchant.terminal_id.alias("terminal_id"),
        record.transaction_amount.alias("transaction_amount"),
        F.upper(record.transaction_currency).alias("transaction_currency"),
        record.billing_amount.alias("billing_amount"),
        F.upper(record.billing_currency).alias("billing_currency"),
        record.auth_type.alias("auth_type"),
        record.entry_mode.alias("entry_mode"),
        record.wallet_provider.alias("wallet_provider"),
        record.is_card_present.alias("is_card_present"),
        record.three_ds.version.alias("three_ds_version"),
        record.three_ds.authentication_result.alias("three_ds_result"),
        record.decision.alias("decision"),
        is_approved(record.decision, record.response_code).alias("is_approved"),
        record.response_code.alias("response_code"),
        record.stand_in.alias("stand_in"),
        record.decline_reason.alias("decline_reason"),
        record.network_transaction_id.alias("network_transaction_id"),
        record.requested_at.alias("requested_at"),
        record.decided_at.alias("decided_at"),
        F.when(latency_ms >= 0, latency_ms).alias("decision_latency_ms"),
        record.headers.getItem("trace_id").alias("trace_id"),
        F.col("decode_error"),
        F.col("kafka_partition"),
        F.col("kafka_offset"),
        F.col("kafka_timestamp"),
        F.date_format(F.coalesce(record.requested_at, F.col("kafka_timestamp")), "yyyy-MM-dd").alias("ds"),
    )


def deduplicate_authorizations(authorizations: DataFrame) -> DataFrame:
    """Keep the first copy of each authorization_id (bad payloads are keyed by their Kafka offset)."""
    key = F.coalesce(
        F.col("authorization_id"),
        F.concat_ws(":", F.lit("kafka"), F.col("kafka_partition").cast("string"), F.col("kafka_offset").cast("string")),
    )
    keyed = authorizations.withColumn("_dedup_key", key)
    if keyed.isStreaming:
        keyed = keyed.withWatermark("kafka_timestamp", DEDUP_WATERMARK).dropDuplicatesWithinWatermark(["_dedup_key"])
    else:
        keyed = keyed.dropDuplicates(["_dedup_key"])
    return keyed.drop("_dedup_key")


def card_authorizations_raw(decoded: DataFrame) -> DataFrame:
    """lake.card_authorizations_raw from decoded Kafka records."""
    return conform(deduplicate_authorizations(flatten_authorizations(decoded)), partitioned(CARD_AUTHORIZATIONS_RAW))
