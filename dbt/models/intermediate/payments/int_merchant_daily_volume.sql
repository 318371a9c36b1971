with payments as (

    select * from {{ ref('int_payments_enriched') }}

)

select
    {{ generate_surrogate_key(['merchant_id', 'payment_date']) }}                    as merchant_day_key,
    merchant_id,
    payment_date                                                                     as volume_date,
    cast(count(*) as bigint)                                                         as payments_count,
    cast(count(case when is_successful then 1 end) as bigint)                        as successful_payments_count,
    cast(count(case when status = 'failed' then 1 end) as bigint)                    as failed_payments_count,
    cast(sum(case when is_successful then amount_usd else 0 end) as decimal(18, 2))  as gross_volume_usd,
    cast(sum(case when is_refunded then amount_usd else 0 end) as decimal(18, 2))    as refunded_volume_usd,
    {{ safe_divide('sum(case when is_successful then amount_usd else 0 end)',
                   'count(case when is_successful then 1 end)', 2) }}               as average_ticket_usd
from payments
group by merchant_id, payment_date
