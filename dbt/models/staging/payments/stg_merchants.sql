with source as (

    select * from {{ source('lake', 'merchants') }}

)

select
    cast(merchant_id as varchar)                 as merchant_id,
    trim(cast(merchant_name as varchar))         as merchant_name,
    cast(mcc as varchar)                         as mcc,
    upper(cast(country_code as varchar))         as country_code,
    lower(cast(status as varchar))               as merchant_status,
    lower(cast(risk_tier as varchar))            as risk_tier,
    upper(cast(settlement_currency as varchar))  as settlement_currency_code,
    cast(onboarded_at as timestamp)              as onboarded_at,
    cast(updated_at as timestamp)                as updated_at
from source
