"""The contracts of the lake tables the Spark jobs write.

The published tables are read by dbt (source `lake` in dbt/models/staging/_sources.yml) and by the
Airflow quality checks. Their contracts here are exactly dbt's source declarations: the same columns,
in the same order, typed in the same vocabulary (`varchar`, `bigint`, `decimal(18,2)`, ...), so the
two can be compared line by line; tests/platform/test_lake_contract.py fails when they drift apart.
dbt's declaration is the consumer contract: change it first, then the contract here, then the job.

`finsight_spark.io.write_partition` and `finsight_spark.streaming.start_table_sink` enforce the contract
of the table they write, and a job's last step conforms its output to it (`conform(frame, schema_of(...))`);
consuming jobs' tests build their inputs from it. Every table also has the string partition column `ds`
(added by `finsight_spark.io`), which is not listed here.

`INTERNAL_TABLES` are landing tables only Spark jobs read (raw topic records with Kafka coordinates and
decode errors); dbt does not declare them.

Enum-valued columns of the published tables hold lower-case codes (`settled`, `visa`), amounts are
integer minor units with their currency (`amount_minor`, `currency`) unless the name says otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from finsight_spark.names import PARTITION_COLUMN, table_id

# Column types as dbt and DuckDB spell them, and the Spark type each one is.
_SIMPLE: Mapping[str, DataType] = {
    "varchar": StringType(),
    "integer": IntegerType(),
    "bigint": LongType(),
    "double": DoubleType(),
    "boolean": BooleanType(),
    "date": DateType(),
    "timestamp": TimestampType(),
    "varchar[]": ArrayType(StringType()),
    "map(varchar, varchar)": MapType(StringType(), StringType()),
}
_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")


def _type(name: str) -> DataType:
    match = _DECIMAL.match(name)
    if match:
        return DecimalType(int(match.group(1)), int(match.group(2)))
    return _SIMPLE[name]


def _table(columns: str) -> StructType:
    """A struct from `name type` lines (all columns nullable: the lake is schema-on-read)."""
    fields = []
    for line in filter(None, (text.strip() for text in columns.splitlines())):
        name, kind = line.split(None, 1)
        fields.append(StructField(name, _type(kind), True))
    return StructType(fields)


_KAFKA = """
kafka_partition integer
kafka_offset bigint
kafka_timestamp timestamp
"""

# --- internal landing tables (Spark only) ----------------------------------------------------------

PAYMENTS_RAW = _table(
    """
event_id varchar
transaction_id varchar
account_id varchar
customer_id varchar
amount decimal(18,2)
currency varchar
fee_amount decimal(18,2)
status varchar
payment_method varchar
channel varchar
merchant_id varchar
merchant_name varchar
merchant_mcc varchar
merchant_country varchar
merchant_city varchar
card_id varchar
card_bin varchar
card_network varchar
card_funding_type varchar
device_id varchar
ip_address varchar
created_at timestamp
updated_at timestamp
trace_id varchar
decode_error varchar
"""
    + _KAFKA
)

FRAUD_SIGNALS_RAW = _table(
    """
signal_id varchar
entity_type varchar
entity_id varchar
source_event_id varchar
signal_type varchar
score double
severity varchar
detector_kind varchar
detector_name varchar
detector_version varchar
detected_at timestamp
expires_at timestamp
attributes map(varchar, varchar)
authorization_id varchar
card_id varchar
account_id varchar
customer_id varchar
auth_billing_amount decimal(18,2)
auth_billing_currency varchar
auth_merchant_mcc varchar
auth_merchant_country varchar
auth_decision varchar
seconds_after_authorization bigint
"""
    + _KAFKA
)

# --- published tables: exactly the columns dbt's source `lake` declares --------------------------------

PAYMENTS_CLEAN = _table(
    """
payment_id varchar
account_id varchar
merchant_id varchar
card_id varchar
payment_method varchar
channel varchar
status varchar
currency varchar
amount_minor bigint
country_code varchar
created_at timestamp
updated_at timestamp
merchant_name varchar
mcc varchar
card_network varchar
amount_usd decimal(18,2)
"""
)

CARD_AUTHORIZATIONS_RAW = _table(
    """
authorization_id varchar
card_id varchar
account_id varchar
merchant_id varchar
payment_id varchar
network varchar
entry_mode varchar
mcc varchar
response_code varchar
currency varchar
amount_minor bigint
authorized_at timestamp
kafka_partition integer
kafka_offset bigint
ingested_at timestamp
merchant_country varchar
three_ds_result varchar
"""
)

CARD_FRAUD_SCORES = _table(
    """
score_id varchar
authorization_id varchar
model_version varchar
fraud_score decimal(5,4)
risk_band varchar
top_signal varchar
scored_at timestamp
account_id varchar
"""
)

TRANSFERS = _table(
    """
transfer_id varchar
source_account_id varchar
destination_account_id varchar
counterparty_country varchar
transfer_type varchar
rail varchar
status varchar
currency varchar
amount_minor bigint
fee_minor bigint
initiated_at timestamp
completed_at timestamp
updated_at timestamp
"""
)

LEDGER_ENTRIES = _table(
    """
entry_id varchar
journal_id varchar
gl_account_code varchar
account_id varchar
direction varchar
amount_minor bigint
currency varchar
source_type varchar
source_id varchar
posted_at timestamp
effective_date date
created_at timestamp
"""
)

KYC_EVENTS = _table(
    """
event_id varchar
customer_id varchar
event_type varchar
kyc_level varchar
provider varchar
reason varchar
occurred_at timestamp
"""
)

FX_RATES_DAILY = _table(
    """
rate_date date
base_currency varchar
quote_currency varchar
rate decimal(18,8)
source varchar
published_at timestamp
"""
)

ACCOUNTS_SNAPSHOT = _table(
    """
account_id varchar
customer_id varchar
account_type varchar
status varchar
currency varchar
country_code varchar
customer_segment varchar
opened_at timestamp
closed_at timestamp
snapshot_date date
updated_at timestamp
"""
)

MERCHANTS = _table(
    """
merchant_id varchar
merchant_name varchar
mcc varchar
country_code varchar
status varchar
risk_tier varchar
settlement_currency varchar
onboarded_at timestamp
updated_at timestamp
"""
)

CHARGEBACKS = _table(
    """
chargeback_id varchar
payment_id varchar
network varchar
reason_code varchar
status varchar
currency varchar
amount_minor bigint
opened_at timestamp
resolved_at timestamp
"""
)

AML_FEATURES = _table(
    """
customer_id varchar
feature_date date
txn_count_30d integer
inbound_amount_usd_30d decimal(18,2)
outbound_amount_usd_30d decimal(18,2)
high_risk_country_transfers_30d integer
structuring_flag boolean
velocity_zscore decimal(6,2)
computed_at timestamp
"""
)

SETTLEMENTS = _table(
    """
settlement_id varchar
settlement_batch_id varchar
payment_id varchar
merchant_id varchar
currency varchar
gross_amount_minor bigint
fee_amount_minor bigint
net_amount_minor bigint
settlement_date date
settled_at timestamp
processor_reference varchar
"""
)

CUSTOMER_FEATURES = _table(
    """
customer_id varchar
feature_date date
tenure_days integer
active_accounts integer
payments_count_90d integer
payments_amount_usd_90d decimal(18,2)
avg_fraud_score_90d decimal(5,4)
max_fraud_score_90d decimal(5,4)
computed_at timestamp
"""
)

TABLES: Mapping[str, StructType] = {
    "lake.payments_raw": PAYMENTS_RAW,
    "lake.card_authorizations_raw": CARD_AUTHORIZATIONS_RAW,
    "lake.fraud_signals_raw": FRAUD_SIGNALS_RAW,
    "lake.payments_clean": PAYMENTS_CLEAN,
    "lake.card_fraud_scores": CARD_FRAUD_SCORES,
    "lake.transfers": TRANSFERS,
    "lake.ledger_entries": LEDGER_ENTRIES,
    "lake.kyc_events": KYC_EVENTS,
    "lake.fx_rates_daily": FX_RATES_DAILY,
    "lake.accounts_snapshot": ACCOUNTS_SNAPSHOT,
    "lake.merchants": MERCHANTS,
    "lake.chargebacks": CHARGEBACKS,
    "lake.aml_features": AML_FEATURES,
    "lake.settlements": SETTLEMENTS,
    "lake.customer_features": CUSTOMER_FEATURES,
}

# Landing tables read by Spark jobs only; every other table is declared in dbt's source `lake`.
INTERNAL_TABLES = frozenset({"lake.payments_raw", "lake.fraud_signals_raw"})


def schema_of(name: str) -> StructType:
    """The contract of lake table `name` (without the `ds` partition column)."""
    table_id(name)
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"no contract for {name}; known: {', '.join(sorted(TABLES))}") from None


def partitioned(schema: StructType) -> StructType:
    """`schema` followed by the `ds` partition column: what a streaming sink writes."""
    return StructType([*schema.fields, StructField(PARTITION_COLUMN, StringType(), True)])
