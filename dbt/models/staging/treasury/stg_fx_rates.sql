-- Only USD-quoted fixings are used for reporting conversions.
with source as (

    select * from {{ source('lake', 'fx_rates_daily') }}

)

select
    cast(rate_date as date)                      as rate_date,
    upper(cast(base_currency as varchar))        as currency_code,
    upper(cast(quote_currency as varchar))       as quote_currency_code,
    cast(rate as decimal(18, 8))                 as rate_to_usd,
    lower(cast(source as varchar))               as rate_source,
    cast(published_at as timestamp)              as published_at
from source
where upper(cast(quote_currency as varchar)) = 'USD'
