-- Fraud alerts raised from case candidates, with the review SLA of their priority.
with candidates as (

    select * from {{ ref('int_fraud_case_candidates') }}

)

select
    cast({{ generate_surrogate_key(['authorization_id', 'trigger_reason']) }} as varchar) as alert_id,
    cast(authorization_id as varchar)                    as authorization_id,
    cast(customer_id as varchar)                         as customer_id,
    cast(account_id as varchar)                          as account_id,
    cast(card_id as varchar)                             as card_id,
    cast(merchant_id as varchar)                         as merchant_id,
    cast(payment_id as varchar)                          as payment_id,
    cast(trigger_reason as varchar)                      as trigger_reason,
    cast(priority as varchar)                            as priority,
    cast(fraud_score as decimal(5, 4))                   as fraud_score,
    cast(top_signal as varchar)                          as top_signal,
    cast(is_approved as boolean)                         as was_approved,
    cast(amount_usd as decimal(18, 2))                   as amount_usd,
    cast(authorized_at as timestamp)                     as raised_at,
    cast(
        {{ dateadd('hour', "case priority when 'p1' then 4 when 'p2' then 24 else 72 end", 'authorized_at') }}
        as timestamp
    )                                                    as review_due_at
from candidates
