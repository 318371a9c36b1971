with authorizations as (

    select * from {{ ref('stg_card_authorizations') }}

),

scores as (

    select * from {{ ref('stg_card_fraud_scores') }}

),

fx_rates as (

    select * from {{ ref('stg_fx_rates') }}

),

applicable_rates as (

    select
        authorizations.authorization_id,
        fx_rates.rate_to_usd
    from authorizations
    inner join fx_rates
        on fx_rates.currency_code = authorizations.currency_code
        and fx_rates.rate_date <= cast(authorizations.authorized_at as date)
    qualify row_number() over (partition by authorizations.authorization_id order by fx_rates.rate_date desc) = 1

)

select
    authorizations.authorization_id,
    authorizations.card_id,
    authorizations.account_id,
    authorizations.merchant_id,
    authorizations.payment_id,
    authorizations.network,
    authorizations.entry_mode,
    authorizations.mcc,
    authorizations.response_code,
    authorizations.is_approved,
    case authorizations.response_code
        when '00' then 'approved'
        when '05' then 'do_not_honor'
        when '14' then 'invalid_card_number'
        when '51' then 'insufficient_funds'
        when '54' then 'expired_card'
        when '59' then 'suspected_fraud'
        else 'other'
    end                                                                  as decline_category,
    authorizations.currency_code,
    authorizations.amount,
    {{ to_usd('authorizations.amount', usd_rate('applicable_rates.rate_to_usd', 'authorizations.currency_code')) }} as amount_usd,
    scores.fraud_score,
    coalesce(scores.risk_band, 'unscored')                               as risk_band,
    scores.model_version,
    scores.top_signal,
    authorizations.authorized_at,
    cast(authorizations.authorized_at as date)                           as authorized_date,
    authorizations.ingested_at
from authorizations
left join scores
    on scores.authorization_id = authorizations.authorization_id
left join applicable_rates
    on applicable_rates.authorization_id = authorizations.authorization_id
