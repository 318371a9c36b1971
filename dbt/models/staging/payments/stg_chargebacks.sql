with source as (

    select * from {{ source('lake', 'chargebacks') }}

)

select
    cast(chargeback_id as varchar)                       as chargeback_id,
    cast(payment_id as varchar)                          as payment_id,
    lower(cast(network as varchar))                      as network,
    cast(reason_code as varchar)                         as reason_code,
    lower(cast(status as varchar))                       as chargeback_status,
    upper(cast(currency as varchar))                     as currency_code,
    {{ minor_to_major('amount_minor', 'currency') }}     as amount,
    cast(opened_at as timestamp)                         as opened_at,
    cast(resolved_at as timestamp)                       as resolved_at,
    cast(cast(opened_at as timestamp) as date)           as opened_date
from source
