with source as (

    select * from {{ source('lake', 'customer_features') }}

)

select
    {{ generate_surrogate_key(['customer_id', 'feature_date']) }}    as customer_feature_key,
    cast(customer_id as varchar)                                     as customer_id,
    cast(feature_date as date)                                       as feature_date,
    cast(tenure_days as integer)                                     as tenure_days,
    cast(active_accounts as integer)                                 as active_accounts,
    cast(payments_count_90d as integer)                              as payments_count_90d,
    cast(payments_amount_usd_90d as decimal(18, 2))                  as payments_amount_usd_90d,
    cast(avg_fraud_score_90d as decimal(5, 4))                       as avg_fraud_score_90d,
    cast(max_fraud_score_90d as decimal(5, 4))                       as max_fraud_score_90d,
    cast(computed_at as timestamp)                                   as computed_at
from source
