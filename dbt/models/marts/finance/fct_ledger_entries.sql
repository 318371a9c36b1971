{{
    config(
        materialized='incremental',
        unique_key='entry_id',
        incremental_strategy='merge',
        on_schema_change='fail'
    )
}}

-- Ledger lines are append-only; the window follows the lake write time (created_at), which unlike
-- posted_at is monotonic across late postings.
with entries as (

    select * from {{ ref('stg_ledger_entries') }}
    {% if is_incremental() %}
    where created_at >= (select coalesce(max(created_at), cast('1900-01-01' as timestamp)) from {{ this }})
    {% endif %}

),

chart_of_accounts as (

    select * from {{ ref('ledger_chart_of_accounts') }}

)

select
    cast(entries.entry_id as varchar)                        as entry_id,
    cast(entries.journal_id as varchar)                      as journal_id,
    cast(entries.gl_account_code as varchar)                 as gl_account_code,
    cast(chart_of_accounts.gl_account_name as varchar)       as gl_account_name,
    cast(chart_of_accounts.account_class as varchar)         as account_class,
    cast(entries.account_id as varchar)                      as account_id,
    cast(entries.direction as varchar)                       as direction,
    cast(entries.currency_code as varchar)                   as currency_code,
    cast(entries.amount as decimal(18, 2))                   as amount,
    cast(entries.debit_amount as decimal(18, 2))             as debit_amount,
    cast(entries.credit_amount as decimal(18, 2))            as credit_amount,
    cast(entries.source_type as varchar)                     as source_type,
    cast(entries.source_id as varchar)                       as source_id,
    cast(entries.effective_date as date)                     as effective_date,
    cast(entries.posted_at as timestamp)                     as posted_at,
    cast(entries.created_at as timestamp)                    as created_at
from entries
left join chart_of_accounts
    on chart_of_accounts.gl_account_code = entries.gl_account_code
