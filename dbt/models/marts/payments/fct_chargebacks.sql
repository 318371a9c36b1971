with chargebacks as (

    select * from {{ ref('stg_chargebacks') }}

),

payments as (

    select * from {{ ref('int_payments_enriched') }}

),

reason_codes as (

    select * from {{ ref('chargeback_reason_codes') }}

)

select
    cast(chargebacks.chargeback_id as varchar)                                   as chargeback_id,
    cast(chargebacks.payment_id as varchar)                                      as payment_id,
    cast(payments.customer_id as varchar)                                        as customer_id,
    cast(payments.merchant_id as varchar)                                        as merchant_id,
    cast(chargebacks.network as varchar)                                         as network,
    cast(chargebacks.reason_code as varchar)                                     as reason_code,
    cast(reason_codes.reason_description as varchar)                             as reason_description,
    cast(coalesce(reason_codes.reason_category, 'unmapped') as varchar)          as reason_category,
    cast(chargebacks.chargeback_status as varchar)                               as chargeback_status,
    cast(chargebacks.chargeback_status = 'lost' as boolean)                      as is_lost,
    cast(chargebacks.currency_code as varchar)                                   as currency_code,
    cast(chargebacks.amount as decimal(18, 2))                                   as amount,
    {{ to_usd('chargebacks.amount', 'payments.fx_rate_to_usd') }}                as amount_usd,
    cast(chargebacks.opened_at as timestamp)                                     as opened_at,
    cast(chargebacks.opened_date as date)                                        as opened_date,
    cast(chargebacks.resolved_at as timestamp)                                   as resolved_at,
    cast({{ datediff('chargebacks.opened_at', 'chargebacks.resolved_at', 'hour') }} as integer) as hours_to_resolve
from chargebacks
left join payments
    on payments.payment_id = chargebacks.payment_id
left join reason_codes
    on reason_codes.network = chargebacks.network
    and reason_codes.reason_code = chargebacks.reason_code
