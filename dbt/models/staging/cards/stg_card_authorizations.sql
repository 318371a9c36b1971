-- The stream ingest delivers at least once: keep the first landed copy of every authorization.
with source as (

    select * from {{ source('lake', 'card_authorizations_raw') }}

),

deduplicated as (

    select *
    from source
    qualify row_number() over (
        partition by authorization_id
        order by cast(ingested_at as timestamp), cast(kafka_offset as bigint)
    ) = 1

)

select
    cast(authorization_id as varchar)                    as authorization_id,
    cast(card_id as varchar)                             as card_id,
    cast(account_id as varchar)                          as account_id,
    cast(merchant_id as varchar)                         as merchant_id,
    cast(payment_id as varchar)                          as payment_id,
    lower(cast(network as varchar))                      as network,
    lower(cast(entry_mode as varchar))                   as entry_mode,
    cast(mcc as varchar)                                 as mcc,
    cast(response_code as varchar)                       as response_code,
    cast(response_code as varchar) = '00'                as is_approved,
    upper(cast(currency as varchar))                     as currency_code,
    cast(amount_minor as bigint)                         as amount_minor,
    {{ minor_to_major('amount_minor', 'currency') }}     as amount,
    cast(authorized_at as timestamp)                     as authorized_at,
    cast(ingested_at as timestamp)                       as ingested_at
from deduplicated
