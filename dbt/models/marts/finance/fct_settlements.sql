-- One row per acquirer settlement line with its reconciliation outcome.
with matching as (

    select * from {{ ref('int_settlement_matching') }}
    where settlement_id is not null

),

settlements as (

    select * from {{ ref('stg_settlements') }}

)

select
    cast(settlements.settlement_id as varchar)           as settlement_id,
    cast(settlements.settlement_batch_id as varchar)     as settlement_batch_id,
    cast(settlements.payment_id as varchar)              as payment_id,
    cast(settlements.merchant_id as varchar)             as merchant_id,
    cast(settlements.currency_code as varchar)           as currency_code,
    cast(settlements.gross_amount as decimal(18, 2))     as gross_amount,
    cast(settlements.fee_amount as decimal(18, 2))       as fee_amount,
    cast(settlements.net_amount as decimal(18, 2))       as net_amount,
    cast(matching.gross_amount_usd as decimal(18, 2))    as gross_amount_usd,
    cast(matching.fee_amount_usd as decimal(18, 2))      as fee_amount_usd,
    cast(settlements.settlement_date as date)            as settlement_date,
    cast(settlements.settled_at as timestamp)            as settled_at,
    cast(settlements.processor_reference as varchar)     as processor_reference,
    cast(matching.match_status as varchar)               as match_status,
    cast(matching.is_matched as boolean)                 as is_reconciled
from settlements
inner join matching
    on matching.settlement_id = settlements.settlement_id
