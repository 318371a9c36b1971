-- Daily movements and closing balances per ledger account (GL account, and customer account for the
-- deposits sub-ledger), signed by the GL account's normal balance so that balances read positive.
with entries as (

    select * from {{ ref('stg_ledger_entries') }}

),

chart_of_accounts as (

    select * from {{ ref('ledger_chart_of_accounts') }}

),

daily as (

    select
        gl_account_code,
        account_id,
        currency_code,
        effective_date              as balance_date,
        count(*)                    as entries_count,
        sum(debit_amount)           as debit_total,
        sum(credit_amount)          as credit_total
    from entries
    group by gl_account_code, account_id, currency_code, effective_date

),

signed as (

    select
        daily.*,
        chart_of_accounts.gl_account_name,
        chart_of_accounts.account_class,
        chart_of_accounts.normal_balance,
        case chart_of_accounts.normal_balance
            when 'debit' then daily.debit_total - daily.credit_total
            when 'credit' then daily.credit_total - daily.debit_total
        end as net_movement
    from daily
    left join chart_of_accounts
        on chart_of_accounts.gl_account_code = daily.gl_account_code

)

select
    {{ generate_surrogate_key(['gl_account_code', 'account_id', 'currency_code', 'balance_date']) }} as ledger_balance_key,
    gl_account_code || ':' || coalesce(account_id, '*')                                  as ledger_account_key,
    gl_account_code,
    gl_account_name,
    account_class,
    normal_balance,
    account_id,
    currency_code,
    balance_date,
    cast(entries_count as bigint)                                                        as entries_count,
    cast(debit_total as decimal(18, 2))                                                  as debit_total,
    cast(credit_total as decimal(18, 2))                                                 as credit_total,
    cast(net_movement as decimal(18, 2))                                                 as net_movement,
    cast(sum(net_movement) over (
        partition by gl_account_code, account_id, currency_code
        order by balance_date
        rows between unbounded preceding and current row
    ) as decimal(18, 2))                                                                 as closing_balance
from signed
