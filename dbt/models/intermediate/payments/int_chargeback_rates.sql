-- Chargeback ratio per merchant as the card networks' monitoring programmes compute it: disputes over
-- successful card payments in the same period.
with payments as (

    select * from {{ ref('int_payments_enriched') }}

),

chargebacks as (

    select * from {{ ref('stg_chargebacks') }}

),

card_volume as (

    select
        merchant_id,
        count(*) as card_payments_count
    from payments
    where payment_method = 'card'
      and is_successful
    group by merchant_id

),

disputes as (

    select
        payments.merchant_id,
        count(*)                                                             as chargebacks_count,
        sum({{ to_usd('chargebacks.amount', 'payments.fx_rate_to_usd') }})   as chargeback_amount_usd
    from chargebacks
    inner join payments
        on payments.payment_id = chargebacks.payment_id
    group by payments.merchant_id

),

rates as (

    select
        coalesce(card_volume.merchant_id, disputes.merchant_id)                  as merchant_id,
        cast(coalesce(card_volume.card_payments_count, 0) as bigint)             as card_payments_count,
        cast(coalesce(disputes.chargebacks_count, 0) as bigint)                  as chargebacks_count,
        cast(coalesce(disputes.chargeback_amount_usd, 0) as decimal(18, 2))      as chargeback_amount_usd,
        {{ safe_divide('coalesce(disputes.chargebacks_count, 0)', 'card_volume.card_payments_count', 6) }} as chargeback_rate
    from card_volume
    full outer join disputes
        on disputes.merchant_id = card_volume.merchant_id

)

select
    *,
    coalesce(
        chargeback_rate >= {{ var('chargeback_rate_threshold') }}
        and chargebacks_count >= {{ var('chargeback_count_floor') }},
        false
    ) as is_above_monitoring_threshold
from rates
