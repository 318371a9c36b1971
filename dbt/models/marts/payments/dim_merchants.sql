with merchants as (

    select * from {{ ref('stg_merchants') }}

),

merchant_categories as (

    select * from {{ ref('merchant_category_codes') }}

),

volume as (

    select
        merchant_id,
        sum(payments_count)            as lifetime_payments_count,
        sum(gross_volume_usd)          as lifetime_gross_volume_usd,
        max(volume_date)               as last_payment_date
    from {{ ref('int_merchant_daily_volume') }}
    group by merchant_id

),

chargeback_rates as (

    select * from {{ ref('int_chargeback_rates') }}

)

select
    cast(merchants.merchant_id as varchar)                                          as merchant_id,
    cast(merchants.merchant_name as varchar)                                        as merchant_name,
    cast(merchants.mcc as varchar)                                                  as mcc,
    cast(merchant_categories.mcc_description as varchar)                            as mcc_description,
    cast(merchant_categories.category_group as varchar)                             as category_group,
    cast(coalesce(merchant_categories.is_high_risk, false) as boolean)              as is_high_risk_mcc,
    cast(merchants.country_code as varchar)                                         as country_code,
    cast(merchants.merchant_status as varchar)                                      as merchant_status,
    cast(merchants.risk_tier as varchar)                                            as risk_tier,
    cast(merchants.settlement_currency_code as varchar)                             as settlement_currency_code,
    cast(merchants.onboarded_at as timestamp)                                       as onboarded_at,
    cast(coalesce(volume.lifetime_payments_count, 0) as bigint)                     as lifetime_payments_count,
    cast(coalesce(volume.lifetime_gross_volume_usd, 0) as decimal(18, 2))           as lifetime_gross_volume_usd,
    cast(volume.last_payment_date as date)                                          as last_payment_date,
    cast(coalesce(chargeback_rates.chargebacks_count, 0) as bigint)                 as chargebacks_count,
    cast(chargeback_rates.chargeback_rate as decimal(18, 6))                        as chargeback_rate,
    cast(coalesce(chargeback_rates.is_above_monitoring_threshold, false) as boolean) as is_above_chargeback_threshold
from merchants
left join merchant_categories
    on merchant_categories.mcc = merchants.mcc
left join volume
    on volume.merchant_id = merchants.merchant_id
left join chargeback_rates
    on chargeback_rates.merchant_id = merchants.merchant_id
