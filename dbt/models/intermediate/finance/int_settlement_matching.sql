-- Three-way view of acquirer settlement lines against the payments that should settle (settled or later
-- refunded). Every settlement line gets a match status; every payment that should have settled but has no
-- line appears once as missing_settlement.
with settlements as (

    select
        *,
        row_number() over (partition by payment_id order by settled_at, settlement_id) as occurrence
    from {{ ref('stg_settlements') }}

),

payments as (

    select
        payment_id,
        merchant_id,
        currency_code,
        amount,
        fx_rate_to_usd,
        status,
        status in ('settled', 'refunded') as is_expected_to_settle
    from {{ ref('int_payments_fx_converted') }}

),

settlement_lines as (

    select
        settlements.settlement_id,
        settlements.settlement_batch_id,
        settlements.payment_id,
        settlements.merchant_id,
        settlements.currency_code,
        payments.amount                      as expected_amount,
        settlements.gross_amount,
        settlements.fee_amount,
        settlements.net_amount,
        settlements.settlement_date,
        settlements.settled_at,
        payments.fx_rate_to_usd,
        case
            when payments.payment_id is null then 'orphan_settlement'
            when settlements.occurrence > 1 then 'duplicate_settlement'
            when not payments.is_expected_to_settle then 'unexpected_settlement'
            when settlements.currency_code <> payments.currency_code
                or settlements.gross_amount <> payments.amount then 'amount_mismatch'
            else 'matched'
        end                                  as match_status
    from settlements
    left join payments
        on payments.payment_id = settlements.payment_id

),

missing_lines as (

    select
        cast(null as varchar)                as settlement_id,
        cast(null as varchar)                as settlement_batch_id,
        payments.payment_id,
        payments.merchant_id,
        payments.currency_code,
        payments.amount                      as expected_amount,
        cast(null as decimal(18, 2))         as gross_amount,
        cast(null as decimal(18, 2))         as fee_amount,
        cast(null as decimal(18, 2))         as net_amount,
        cast(null as date)                   as settlement_date,
        cast(null as timestamp)              as settled_at,
        payments.fx_rate_to_usd,
        'missing_settlement'                 as match_status
    from payments
    where payments.is_expected_to_settle
      and not exists (
          select 1 from settlements where settlements.payment_id = payments.payment_id
      )

),

unioned as (

    select * from settlement_lines
    union all
    select * from missing_lines

)

select
    coalesce(settlement_id, 'unsettled:' || payment_id)                         as match_key,
    settlement_id,
    settlement_batch_id,
    payment_id,
    merchant_id,
    currency_code,
    expected_amount,
    gross_amount,
    fee_amount,
    net_amount,
    cast(coalesce(gross_amount, 0) - coalesce(expected_amount, 0) as decimal(18, 2)) as amount_difference,
    fx_rate_to_usd,
    {{ to_usd('gross_amount', 'fx_rate_to_usd') }}                              as gross_amount_usd,
    {{ to_usd('fee_amount', 'fx_rate_to_usd') }}                                as fee_amount_usd,
    settlement_date,
    settled_at,
    match_status,
    match_status = 'matched'                                                    as is_matched
from unioned
