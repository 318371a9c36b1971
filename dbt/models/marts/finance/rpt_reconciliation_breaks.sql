-- Open reconciliation breaks for the finance operations queue: settlement lines that do not match a payment,
-- payments that never settled, and ledger journals that do not balance.
with settlement_breaks as (

    select
        'settlement'                                         as source_system,
        match_status                                         as break_type,
        match_key                                            as reference_id,
        payment_id,
        merchant_id,
        currency_code,
        expected_amount,
        gross_amount                                         as actual_amount,
        amount_difference                                    as difference_amount,
        coalesce(settlement_date, cast(null as date))        as detected_date
    from {{ ref('int_settlement_matching') }}
    where not is_matched

),

journal_totals as (

    select
        journal_id,
        currency_code,
        max(effective_date)                                  as effective_date,
        sum(debit_amount)                                    as debit_total,
        sum(credit_amount)                                   as credit_total
    from {{ ref('stg_ledger_entries') }}
    group by journal_id, currency_code

),

ledger_breaks as (

    select
        'ledger'                                             as source_system,
        'unbalanced_journal'                                 as break_type,
        journal_id                                           as reference_id,
        cast(null as varchar)                                as payment_id,
        cast(null as varchar)                                as merchant_id,
        currency_code,
        debit_total                                          as expected_amount,
        credit_total                                         as actual_amount,
        credit_total - debit_total                           as difference_amount,
        effective_date                                       as detected_date
    from journal_totals
    where debit_total <> credit_total

),

breaks as (

    select * from settlement_breaks
    union all
    select * from ledger_breaks

)

select
    cast({{ generate_surrogate_key(['source_system', 'break_type', 'reference_id']) }} as varchar) as break_id,
    cast(source_system as varchar)                       as source_system,
    cast(break_type as varchar)                          as break_type,
    cast(reference_id as varchar)                        as reference_id,
    cast(payment_id as varchar)                          as payment_id,
    cast(merchant_id as varchar)                         as merchant_id,
    cast(currency_code as varchar)                       as currency_code,
    cast(expected_amount as decimal(18, 2))              as expected_amount,
    cast(actual_amount as decimal(18, 2))                as actual_amount,
    cast(difference_amount as decimal(18, 2))            as difference_amount,
    cast(detected_date as date)                          as detected_date,
    cast(
        case
            when break_type in ('unbalanced_journal', 'orphan_settlement', 'duplicate_settlement') then 'high'
            when break_type = 'amount_mismatch' then 'medium'
            else 'low'
        end as varchar
    )                                                    as severity
from breaks
