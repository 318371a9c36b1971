-- The nightly re-scoring appends a newer score; the most recent one is the score of record.
with source as (

    select * from {{ source('lake', 'card_fraud_scores') }}

),

latest as (

    select *
    from source
    qualify row_number() over (
        partition by authorization_id
        order by cast(scored_at as timestamp) desc, score_id desc
    ) = 1

)

select
    cast(authorization_id as varchar)            as authorization_id,
    cast(score_id as varchar)                    as score_id,
    cast(model_version as varchar)               as model_version,
    cast(fraud_score as decimal(5, 4))           as fraud_score,
    lower(cast(risk_band as varchar))            as risk_band,
    nullif(lower(cast(top_signal as varchar)), 'none') as top_signal,
    cast(scored_at as timestamp)                 as scored_at
from latest
