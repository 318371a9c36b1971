{{
    config(
        materialized='incremental',
        unique_key='authorization_id',
        incremental_strategy='merge',
        on_schema_change='fail'
    )
}}

-- Authorizations are immutable once landed; the window follows the stream's ingestion time and the merge
-- absorbs late re-scores of rows landed in the previous window.
with authorizations as (

    select * from {{ ref('int_card_auth_outcomes') }}
    {% if is_incremental() %}
    where ingested_at >= (select coalesce(max(ingested_at), cast('1900-01-01' as timestamp)) from {{ this }})
    {% endif %}

)

select
    cast(authorization_id as varchar)        as authorization_id,
    cast(card_id as varchar)                 as card_id,
    cast(account_id as varchar)              as account_id,
    cast(merchant_id as varchar)             as merchant_id,
    cast(payment_id as varchar)              as payment_id,
    cast(network as varchar)                 as network,
    cast(entry_mode as varchar)              as entry_mode,
    cast(mcc as varchar)                     as mcc,
    cast(response_code as varchar)           as response_code,
    cast(is_approved as boolean)             as is_approved,
    cast(decline_category as varchar)        as decline_category,
    cast(currency_code as varchar)           as currency_code,
    cast(amount as decimal(18, 2))           as amount,
    cast(amount_usd as decimal(18, 2))       as amount_usd,
    cast(fraud_score as decimal(5, 4))       as fraud_score,
    cast(risk_band as varchar)               as risk_band,
    cast(model_version as varchar)           as model_version,
    cast(authorized_at as timestamp)         as authorized_at,
    cast(authorized_date as date)            as authorized_date,
    cast(ingested_at as timestamp)           as ingested_at
from authorizations
