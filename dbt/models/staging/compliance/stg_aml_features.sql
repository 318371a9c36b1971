with source as (

    select * from {{ source('lake', 'aml_features') }}

)

select
    {{ generate_surrogate_key(['customer_id', 'feature_date']) }}    as aml_feature_key,
    cast(customer_id as varchar)                                     as customer_id,
    cast(feature_date as date)                                       as feature_date,
    cast(txn_count_30d as integer)                                   as txn_count_30d,
    cast(inbound_amount_usd_30d as decimal(18, 2))                   as inbound_amount_usd_30d,
    cast(outbound_amount_usd_30d as decimal(18, 2))                  as outbound_amount_usd_30d,
    cast(high_risk_country_transfers_30d as integer)                 as high_risk_country_transfers_30d,
    cast(structuring_flag as boolean)                                as is_structuring_suspected,
    cast(velocity_zscore as decimal(6, 2))                           as velocity_zscore,
    cast(computed_at as timestamp)                                   as computed_at
from source
