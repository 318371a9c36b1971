with source as (

    select * from {{ source('lake', 'kyc_events') }}

)

select
    cast(event_id as varchar)                    as kyc_event_id,
    cast(customer_id as varchar)                 as customer_id,
    lower(cast(event_type as varchar))           as event_type,
    lower(cast(kyc_level as varchar))            as kyc_level,
    lower(cast(provider as varchar))             as provider,
    lower(cast(reason as varchar))               as reason,
    cast(occurred_at as timestamp)               as occurred_at
from source
