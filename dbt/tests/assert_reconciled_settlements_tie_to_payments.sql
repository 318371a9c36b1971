-- A settlement line marked reconciled settles exactly the amount and currency of its payment.
select
    settlements.settlement_id,
    settlements.gross_amount,
    payments.amount
from {{ ref('fct_settlements') }} as settlements
inner join {{ ref('fct_payments') }} as payments
    on payments.payment_id = settlements.payment_id
where settlements.is_reconciled
  and (
      settlements.gross_amount <> payments.amount
      or settlements.currency_code <> payments.currency_code
  )
