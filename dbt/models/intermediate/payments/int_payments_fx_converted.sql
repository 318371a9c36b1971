-- Converts every payment to USD at the fixing of its own date, or at the last fixing published before it
-- (no fixings on weekends and bank holidays). USD payments need no rate.
with payments as (

    select * from {{ ref('stg_payments') }}

),

fx_rates as (

    select * from {{ ref('stg_fx_rates') }}

),

applicable_rates as (

    select
        payments.payment_id,
        fx_rates.rate_date,
        fx_rates.rate_to_usd
    from payments
    inner join fx_rates
        on fx_rates.currency_code = payments.currency_code
        and fx_rates.rate_date <= payments.payment_date
    qualify row_number() over (partition by payments.payment_id order by fx_rates.rate_date desc) = 1

)

select
    payments.payment_id,
    payments.account_id,
    payments.merchant_id,
    payments.card_id,
    payments.payment_method,
    payments.channel,
    payments.status,
    payments.currency_code,
    payments.amount,
    {{ usd_rate('applicable_rates.rate_to_usd', 'payments.currency_code') }}         as fx_rate_to_usd,
    case
        when payments.currency_code = 'USD' then payments.payment_date
        else applicable_rates.rate_date
    end                                                                               as fx_rate_date,
    {{ to_usd('payments.amount', usd_rate('applicable_rates.rate_to_usd', 'payments.currency_code')) }} as amount_usd,
    payments.country_code,
    payments.payment_date,
    payments.created_at,
    payments.updated_at
from payments
left join applicable_rates
    on applicable_rates.payment_id = payments.payment_id
