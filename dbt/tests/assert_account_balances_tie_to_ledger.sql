-- The balance dim_accounts reports for every account equals the customer deposits sub-ledger
-- (GL 2010, credit-normal) summed line by line from fct_ledger_entries.
with ledger as (

    select
        account_id,
        currency_code,
        sum(credit_amount) - sum(debit_amount) as ledger_balance
    from {{ ref('fct_ledger_entries') }}
    where gl_account_code = '2010'
    group by account_id, currency_code

)

select
    accounts.account_id,
    accounts.current_balance,
    ledger.ledger_balance
from {{ ref('dim_accounts') }} as accounts
left join ledger
    on ledger.account_id = accounts.account_id
    and ledger.currency_code = accounts.currency_code
where accounts.current_balance <> coalesce(ledger.ledger_balance, 0)
