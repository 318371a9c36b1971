-- Card authorizations that open a fraud case, with the first rule that fired (rules are ordered by severity).
with authorizations as (

    select * from {{ ref('int_card_auth_outcomes') }}

),

accounts as (

    select account_id, customer_id from {{ ref('stg_accounts') }}

),

latest_customer_features as (

    select *
    from {{ ref('stg_customer_features') }}
    qualify row_number() over (partition by customer_id order by feature_date desc) = 1

),

merchant_categories as (

    select * from {{ ref('merchant_category_codes') }}

),

evaluated as (

    select
        authorizations.authorization_id,
        accounts.customer_id,
        authorizations.account_id,
        authorizations.card_id,
        authorizations.merchant_id,
        authorizations.payment_id,
        authorizations.mcc,
        coalesce(merchant_categories.is_high_risk, false)          as is_high_risk_mcc,
        authorizations.response_code,
        authorizations.is_approved,
        authorizations.fraud_score,
        authorizations.top_signal,
        authorizations.amount_usd,
        latest_customer_features.max_fraud_score_90d               as customer_max_fraud_score_90d,
        authorizations.authorized_at,
        case
            when authorizations.fraud_score >= {{ var('fraud_score_critical') }}
                then 'model_score_critical'
            when authorizations.response_code = '59'
                then 'declined_suspected_fraud'
            when authorizations.fraud_score >= {{ var('fraud_score_elevated') }}
                and coalesce(merchant_categories.is_high_risk, false)
                then 'high_risk_merchant_elevated_score'
            when authorizations.fraud_score >= {{ var('fraud_score_watch') }}
                and latest_customer_features.max_fraud_score_90d >= {{ var('fraud_score_critical') }}
                then 'repeat_risk_customer'
        end                                                        as trigger_reason
    from authorizations
    left join accounts
        on accounts.account_id = authorizations.account_id
    left join latest_customer_features
        on latest_customer_features.customer_id = accounts.customer_id
    left join merchant_categories
        on merchant_categories.mcc = authorizations.mcc

)

select
    *,
    case
        when trigger_reason = 'model_score_critical' and is_approved then 'p1'
        when trigger_reason in ('model_score_critical', 'high_risk_merchant_elevated_score') then 'p2'
        else 'p3'
    end as priority
from evaluated
where trigger_reason is not null
