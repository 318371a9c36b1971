"""The contracts of the lake tables the Spark jobs write (dbt's source `lake` reads the same columns).

A producing job conforms its output to the contract before writing (`conform(frame, schema_of(...))`);
consuming jobs' tests build their inputs from it. Every table also has the string partition column
`ds` (added by `finsight_spark.io`), which is not listed here.
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

from finsight_spark.io import PARTITION_COLUMN, table_id

_SIMPLE: Mapping[str, DataType] = {
    "string": StringType(),
    "int": IntegerType(),
    "long": LongType(),
    "double": DoubleType(),
    "boolean": BooleanType(),
    "date": DateType(),
    "timestamp": TimestampType(),
    "array<string>": ArrayType(StringType()),
    "map<string,string>": MapType(StringType(), StringType()),
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
        name, kind = line.split()
        fields.append(StructField(name, _type(kind), True))
    return StructType(fields)


_KAFKA = """
kafka_partition int
kafka_offset long
kafka_timestamp timestamp
"""

PAYMENTS_RAW = _table(
    """
event_id string
transaction_id string
account_id string
customer_id string
amount decimal(18,2)
currency string
fee_amount decimal(18,2)
status string
payment_method string
channel string
merchant_id string
merchant_name string
merchant_mcc string
merchant_country string
merchant_city string
card_id string
card_bin string
card_network string
card_funding_type string
device_id string
ip_address string
created_at timestamp
updated_at timestamp
trace_id string
decode_error string
"""
    + _KAFKA
)

CARD_AUTHORIZATIONS_RAW = _table(
    """
authorization_id string
card_id string
account_id string
customer_id string
card_bin string
card_last4 string
card_network string
card_funding_type string
is_virtual_card boolean
merchant_id string
merchant_name string
merchant_mcc string
merchant_country string
terminal_id string
transaction_amount decimal(18,2)
transaction_currency string
billing_amount decimal(18,2)
billing_currency string
auth_type string
entry_mode string
wallet_provider string
is_card_present boolean
three_ds_version string
three_ds_result string
decision string
is_approved boolean
response_code string
stand_in boolean
decline_reason string
network_transaction_id string
requested_at timestamp
decided_at timestamp
decision_latency_ms long
trace_id string
decode_error string
"""
    + _KAFKA
)

FRAUD_SIGNALS_RAW = _table(
    """
signal_id string
entity_type string
entity_id string
source_event_id string
signal_type string
score double
severity string
detector_kind string
detector_name string
detector_version string
detected_at timestamp
expires_at timestamp
attributes map<string,string>
authorization_id string
card_id string
account_id string
customer_id string
auth_billing_amount decimal(18,2)
auth_billing_currency string
auth_merchant_mcc string
auth_merchant_country string
auth_decision string
seconds_after_authorization long
"""
    + _KAFKA
)

PAYMENTS_CLEAN = _table(
    """
transaction_id string
last_event_id string
account_id string
customer_id string
status string
payment_method string
channel string
amount decimal(18,2)
currency string
fee_amount decimal(18,2)
fx_rate_to_usd decimal(18,8)
fx_rate_date date
amount_usd decimal(18,2)
fee_amount_usd decimal(18,2)
merchant_id string
merchant_name string
merchant_mcc string
merchant_country string
card_id string
card_network string
card_funding_type string
device_id string
created_at timestamp
updated_at timestamp
created_date date
is_new_today boolean
event_count int
"""
)

CARD_FRAUD_SCORES = _table(
    """
authorization_id string
card_id string
account_id string
customer_id string
requested_at timestamp
merchant_id string
merchant_mcc string
merchant_country string
billing_amount decimal(18,2)
billing_currency string
issuer_decision string
card_auths_1h int
card_amount_24h decimal(20,2)
card_countries_24h int
is_high_risk_mcc boolean
is_unauthenticated_ecommerce boolean
is_fallback_entry boolean
signal_count int
max_signal_score double
has_critical_signal boolean
fraud_score int
risk_band string
recommended_action string
reason_codes array<string>
scoring_version string
"""
)

TRANSFERS = _table(
    """
transfer_id string
status string
rail string
direction string
source_account_id string
source_country string
destination_account_id string
destination_institution_id string
destination_account_masked string
destination_country string
amount decimal(18,2)
currency string
target_currency string
target_amount decimal(18,2)
fx_rate decimal(18,8)
is_cross_border boolean
initiated_by string
failure_code string
initiated_at timestamp
submitted_at timestamp
completed_at timestamp
failed_at timestamp
returned_at timestamp
last_event_at timestamp
settlement_seconds long
value_date date
event_count int
"""
)

LEDGER_ENTRIES = _table(
    """
entry_id string
journal_id string
line_number int
legal_entity string
ledger_account_id string
gl_account_code string
entry_side string
amount decimal(18,2)
signed_amount decimal(18,2)
currency string
functional_amount decimal(18,2)
signed_functional_amount decimal(18,2)
functional_currency string
source_system string
source_reference string
posting_date date
value_date date
booked_at timestamp
is_reversal boolean
reversal_of string
"""
)

KYC_EVENTS = _table(
    """
event_id string
customer_id string
check_id string
event_type string
check_level string
provider string
document_type string
document_country string
document_expiry_date date
document_verification_status string
screening_list_version string
screening_hits int
is_screening_match_confirmed boolean
risk_rating string
reason_codes array<string>
reviewer_id string
jurisdiction string
occurred_at timestamp
check_step int
is_check_outcome boolean
check_outcome string
"""
)

FX_RATES_DAILY = _table(
    """
rate_date date
base_currency string
quote_currency string
rate_type string
open_rate decimal(18,8)
close_rate decimal(18,8)
high_rate decimal(18,8)
low_rate decimal(18,8)
quote_count int
last_sequence long
close_source string
is_derived boolean
"""
)

ACCOUNTS_SNAPSHOT = _table(
    """
account_id string
customer_id string
account_type string
status string
currency string
product_code string
overdraft_limit decimal(18,2)
country_code string
region string
is_joint boolean
overdraft_enabled boolean
sanctions_hold boolean
opened_at timestamp
closed_at timestamp
last_change_type string
last_changed_at timestamp
last_change_id string
is_open boolean
first_snapshot_date date
"""
)

MERCHANTS = _table(
    """
merchant_id string
merchant_name string
merchant_mcc string
mcc_category string
merchant_country string
first_seen_at timestamp
last_seen_at timestamp
payments_30d long
volume_usd_30d decimal(20,2)
avg_ticket_usd_30d decimal(18,2)
customers_30d long
refund_rate_30d decimal(9,6)
chargeback_rate_30d decimal(9,6)
is_high_risk_mcc boolean
risk_tier string
"""
)

CHARGEBACKS = _table(
    """
chargeback_id string
transaction_id string
account_id string
customer_id string
merchant_id string
merchant_mcc string
card_id string
card_network string
channel string
amount decimal(18,2)
currency string
amount_usd decimal(18,2)
payment_created_at timestamp
charged_back_at timestamp
days_to_chargeback int
dispute_window_days int
is_within_dispute_window boolean
chargeback_fee_usd decimal(18,2)
"""
)

AML_FEATURES = _table(
    """
account_id string
customer_id string
account_currency string
account_status string
account_age_days int
sanctions_hold boolean
outbound_count_1d long
outbound_count_7d long
outbound_count_30d long
outbound_amount_7d decimal(20,2)
outbound_amount_30d decimal(20,2)
inbound_amount_30d decimal(20,2)
foreign_currency_transfers_30d long
structuring_count_7d long
distinct_beneficiaries_30d long
cross_border_ratio_30d decimal(9,6)
high_risk_country_transfers_30d long
returned_transfers_30d long
pass_through_ratio_30d decimal(9,6)
kyc_risk_rating string
kyc_last_outcome string
days_since_kyc_pass int
has_confirmed_screening_match boolean
aml_rule_hits array<string>
aml_score int
is_alert boolean
"""
)

SETTLEMENTS = _table(
    """
settlement_batch_id string
settlement_date date
merchant_id string
currency string
settled_count long
gross_amount decimal(20,2)
refund_amount decimal(20,2)
chargeback_amount decimal(20,2)
merchant_service_charge decimal(20,2)
net_amount decimal(20,2)
ledger_amount decimal(20,2)
ledger_difference decimal(20,2)
matched_count long
unmatched_payment_count long
unmatched_ledger_count long
reconciliation_status string
"""
)

CUSTOMER_FEATURES = _table(
    """
customer_id string
account_count int
open_account_count int
primary_currency string
first_account_opened_at timestamp
tenure_days int
has_overdraft boolean
sanctions_hold boolean
payments_30d long
volume_usd_30d decimal(20,2)
avg_ticket_usd_30d decimal(18,2)
distinct_merchants_30d long
declined_ratio_30d decimal(9,6)
days_since_last_payment int
card_auths_scored_30d long
high_risk_auths_30d long
max_fraud_score_30d int
segment string
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
