-- One row per account: the state in the most recent snapshot that contains it.
with source as (

    select * from {{ source('lake', 'accounts_snapshot') }}

),

latest as (

    select *
    from source
    qualify row_number() over (
        partition by account_id
        order by cast(snapshot_date as date) desc, cast(updated_at as timestamp) desc
    ) = 1

)

select
    cast(account_id as varchar)                  as account_id,
    cast(customer_id as varchar)                 as customer_id,
    lower(cast(account_type as varchar))         as account_type,
    lower(cast(status as varchar))               as account_status,
    upper(cast(currency as varchar))             as currency_code,
    upper(cast(country_code as varchar))         as country_code,
    lower(cast(customer_segment as varchar))     as customer_segment,
    cast(opened_at as timestamp)                 as opened_at,
    cast(closed_at as timestamp)                 as closed_at,
    cast(snapshot_date as date)                  as snapshot_date,
    cast(updated_at as timestamp)                as updated_at
from latest
