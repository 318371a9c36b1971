-- Daily revenue by stream in USD. Merchant fees are recognised only on reconciled settlement lines
-- (fees on unmatched lines stay in suspense until finance clears the break); lost chargebacks are a loss.
with settlement_fees as (

    select
        settlement_date                      as revenue_date,
        'merchant_service_fees'              as revenue_stream,
        count(*)                             as transactions_count,
        sum(gross_amount_usd)                as gross_volume_usd,
        sum(fee_amount_usd)                  as revenue_usd
    from {{ ref('int_settlement_matching') }}
    where is_matched
    group by settlement_date

),

transfer_fees as (

    select
        initiated_date                       as revenue_date,
        'transfer_fees'                      as revenue_stream,
        count(*)                             as transactions_count,
        sum(amount_usd)                      as gross_volume_usd,
        sum(fee_amount_usd)                  as revenue_usd
    from {{ ref('int_transfers_enriched') }}
    where status = 'completed'
      and is_external
    group by initiated_date

),

chargeback_losses as (

    select
        cast(resolved_at as date)            as revenue_date,
        'chargeback_losses'                  as revenue_stream,
        count(*)                             as transactions_count,
        sum(amount_usd)                      as gross_volume_usd,
        -sum(amount_usd)                     as revenue_usd
    from {{ ref('fct_chargebacks') }}
    where is_lost
    group by cast(resolved_at as date)

),

unioned as (

    select * from settlement_fees
    union all
    select * from transfer_fees
    union all
    select * from chargeback_losses

)

select
    cast({{ generate_surrogate_key(['revenue_date', 'revenue_stream']) }} as varchar) as revenue_key,
    cast(revenue_date as date)                               as revenue_date,
    cast(revenue_stream as varchar)                          as revenue_stream,
    cast(transactions_count as bigint)                       as transactions_count,
    cast(coalesce(gross_volume_usd, 0) as decimal(18, 2))    as gross_volume_usd,
    cast(coalesce(revenue_usd, 0) as decimal(18, 2))         as revenue_usd
from unioned
