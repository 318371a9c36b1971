with payments as (

    select * from {{ ref('int_payments_fx_converted') }}

),

accounts as (

    select * from {{ ref('stg_accounts') }}

),

merchants as (

    select * from {{ ref('stg_merchants') }}

),

merchant_categories as (

    select * from {{ ref('merchant_category_codes') }}

)

select
    payments.payment_id,
    accounts.customer_id,
    accounts.customer_segment,
    payments.account_id,
    payments.merchant_id,
    merchants.merchant_name,
    merchants.mcc,
    merchant_categories.mcc_description,
    merchant_categories.category_group,
    coalesce(merchant_categories.is_high_risk, false)                 as is_high_risk_mcc,
    merchants.country_code                                            as merchant_country_code,
    payments.card_id,
    payments.payment_method,
    payments.channel,
    payments.status,
    payments.status in ('captured', 'settled', 'refunded')            as is_successful,
    payments.status = 'refunded'                                      as is_refunded,
    payments.country_code <> merchants.country_code                   as is_cross_border,
    payments.currency_code,
    payments.amount,
    payments.fx_rate_to_usd,
    payments.fx_rate_date,
    payments.amount_usd,
    payments.country_code,
    payments.payment_date,
    payments.created_at,
    payments.updated_at
from payments
left join accounts
    on accounts.account_id = payments.account_id
left join merchants
    on merchants.merchant_id = payments.merchant_id
left join merchant_categories
    on merchant_categories.mcc = merchants.mcc
