{{
    config(
        materialized='incremental',
        unique_key='payment_id',
        incremental_strategy='merge',
        on_schema_change='fail'
    )
}}

-- Payments change status after they are created (capture, settlement, refund), so the incremental window
-- follows updated_at and the merge on payment_id replaces the earlier state.
with payments as (

    select * from {{ ref('int_payments_enriched') }}
    {% if is_incremental() %}
    where updated_at >= (select coalesce(max(updated_at), cast('1900-01-01' as timestamp)) from {{ this }})
    {% endif %}

)

select
    cast(payment_id as varchar)              as payment_id,
    cast(customer_id as varchar)             as customer_id,
    cast(account_id as varchar)              as account_id,
    cast(merchant_id as varchar)             as merchant_id,
    cast(card_id as varchar)                 as card_id,
    cast(payment_method as varchar)          as payment_method,
    cast(channel as varchar)                 as channel,
    cast(status as varchar)                  as status,
    cast(is_successful as boolean)           as is_successful,
    cast(is_refunded as boolean)             as is_refunded,
    cast(is_cross_border as boolean)         as is_cross_border,
    cast(mcc as varchar)                     as mcc,
    cast(category_group as varchar)          as category_group,
    cast(currency_code as varchar)           as currency_code,
    cast(amount as decimal(18, 2))           as amount,
    cast(fx_rate_to_usd as decimal(18, 8))   as fx_rate_to_usd,
    cast(amount_usd as decimal(18, 2))       as amount_usd,
    cast(country_code as varchar)            as country_code,
    cast(payment_date as date)               as payment_date,
    cast(created_at as timestamp)            as created_at,
    cast(updated_at as timestamp)            as updated_at
from payments
