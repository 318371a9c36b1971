with source as (

    select * from {{ source('lake', 'settlements') }}

)

select
    cast(settlement_id as varchar)                           as settlement_id,
    cast(settlement_batch_id as varchar)                     as settlement_batch_id,
    cast(payment_id as varchar)                              as payment_id,
    cast(merchant_id as varchar)                             as merchant_id,
    upper(cast(currency as varchar))                         as currency_code,
    {{ minor_to_major('gross_amount_minor', 'currency') }}   as gross_amount,
    {{ minor_to_major('fee_amount_minor', 'currency') }}     as fee_amount,
    {{ minor_to_major('net_amount_minor', 'currency') }}     as net_amount,
    cast(settlement_date as date)                            as settlement_date,
    cast(settled_at as timestamp)                            as settled_at,
    cast(processor_reference as varchar)                     as processor_reference
from source
