-- Merchant service fee revenue in rpt_daily_revenue is exactly the USD fees on reconciled settlement lines.
with reported as (

    select coalesce(sum(revenue_usd), 0) as fees_usd
    from {{ ref('rpt_daily_revenue') }}
    where revenue_stream = 'merchant_service_fees'

),

settled as (

    select coalesce(sum(fee_amount_usd), 0) as fees_usd
    from {{ ref('fct_settlements') }}
    where is_reconciled

)

select reported.fees_usd as reported_fees_usd, settled.fees_usd as settled_fees_usd
from reported
cross join settled
where reported.fees_usd <> settled.fees_usd
