with currencies as (

    select * from {{ ref('currency_codes') }}

),

latest_rates as (

    select *
    from {{ ref('stg_fx_rates') }}
    qualify row_number() over (partition by currency_code order by rate_date desc) = 1

)

select
    cast(currencies.currency_code as varchar)                                     as currency_code,
    cast(currencies.currency_name as varchar)                                     as currency_name,
    cast(currencies.numeric_code as varchar)                                      as numeric_code,
    cast(currencies.minor_units as integer)                                       as minor_units,
    cast(currencies.is_settlement_currency as boolean)                            as is_settlement_currency,
    cast({{ usd_rate('latest_rates.rate_to_usd', 'currencies.currency_code') }} as decimal(18, 8)) as latest_rate_to_usd,
    cast(latest_rates.rate_date as date)                                          as latest_rate_date,
    cast(latest_rates.rate_source as varchar)                                     as latest_rate_source
from currencies
left join latest_rates
    on latest_rates.currency_code = currencies.currency_code
