with source as (

    select * from {{ source('lake', 'transfers') }}

)

select
    cast(transfer_id as varchar)                         as transfer_id,
    cast(source_account_id as varchar)                   as source_account_id,
    cast(destination_account_id as varchar)              as destination_account_id,
    upper(cast(counterparty_country as varchar))         as counterparty_country,
    lower(cast(transfer_type as varchar))                as transfer_type,
    lower(cast(rail as varchar))                         as rail,
    lower(cast(status as varchar))                       as status,
    upper(cast(currency as varchar))                     as currency_code,
    {{ minor_to_major('amount_minor', 'currency') }}     as amount,
    {{ minor_to_major('fee_minor', 'currency') }}        as fee_amount,
    cast(initiated_at as timestamp)                      as initiated_at,
    cast(completed_at as timestamp)                      as completed_at,
    cast(updated_at as timestamp)                        as updated_at,
    cast(cast(initiated_at as timestamp) as date)        as initiated_date
from source
