with transfers as (

    select * from {{ ref('int_transfers_enriched') }}

)

select
    cast(transfer_id as varchar)                 as transfer_id,
    cast(customer_id as varchar)                 as customer_id,
    cast(source_account_id as varchar)           as source_account_id,
    cast(destination_account_id as varchar)      as destination_account_id,
    cast(transfer_type as varchar)               as transfer_type,
    cast(rail as varchar)                        as rail,
    cast(status as varchar)                      as status,
    cast(is_external as boolean)                 as is_external,
    cast(counterparty_country as varchar)        as counterparty_country,
    cast(counterparty_risk_rating as varchar)    as counterparty_risk_rating,
    cast(is_high_risk_corridor as boolean)       as is_high_risk_corridor,
    cast(currency_code as varchar)               as currency_code,
    cast(amount as decimal(18, 2))               as amount,
    cast(fee_amount as decimal(18, 2))           as fee_amount,
    cast(amount_usd as decimal(18, 2))           as amount_usd,
    cast(fee_amount_usd as decimal(18, 2))       as fee_amount_usd,
    cast(initiated_at as timestamp)              as initiated_at,
    cast(initiated_date as date)                 as initiated_date,
    cast(completed_at as timestamp)              as completed_at,
    cast({{ datediff('initiated_at', 'completed_at', 'second') }} as bigint) as seconds_to_complete
from transfers
