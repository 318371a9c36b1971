with source as (

    select * from {{ source('lake', 'ledger_entries') }}

),

typed as (

    select
        cast(entry_id as varchar)                            as entry_id,
        cast(journal_id as varchar)                          as journal_id,
        cast(gl_account_code as varchar)                     as gl_account_code,
        cast(account_id as varchar)                          as account_id,
        case upper(cast(direction as varchar))
            when 'D' then 'debit'
            when 'C' then 'credit'
        end                                                  as direction,
        upper(cast(currency as varchar))                     as currency_code,
        {{ minor_to_major('amount_minor', 'currency') }}     as amount,
        lower(cast(source_type as varchar))                  as source_type,
        cast(source_id as varchar)                           as source_id,
        cast(posted_at as timestamp)                         as posted_at,
        cast(effective_date as date)                         as effective_date,
        cast(created_at as timestamp)                        as created_at
    from source

)

select
    *,
    case when direction = 'debit' then amount else cast(0 as decimal(18, 2)) end  as debit_amount,
    case when direction = 'credit' then amount else cast(0 as decimal(18, 2)) end as credit_amount
from typed
