-- Double entry: every journal's debits equal its credits in each currency.
select
    journal_id,
    currency_code,
    sum(debit_amount)  as debit_total,
    sum(credit_amount) as credit_total
from {{ ref('fct_ledger_entries') }}
group by journal_id, currency_code
having sum(debit_amount) <> sum(credit_amount)
