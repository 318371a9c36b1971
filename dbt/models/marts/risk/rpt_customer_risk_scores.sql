-- Composite customer risk score (0-100) from four capped components. The weights are the risk committee's
-- current policy; the bands drive review frequency (critical: immediate, high: monthly, medium: yearly).
with account_inputs as (

    select * from {{ ref('int_account_risk_inputs') }}

),

activity as (

    select * from {{ ref('int_customer_activity') }}

),

fraud_cases as (

    select customer_id, count(*) as fraud_cases_count
    from {{ ref('int_fraud_case_candidates') }}
    where customer_id is not null
    group by customer_id

),

customer_inputs as (

    select
        customer_id,
        max(country_risk_score)                                      as max_country_risk_score,
        max(case country_risk_rating
                when 'prohibited' then 4 when 'high' then 3 when 'medium' then 2 else 1
            end)                                                     as country_risk_rank,
        max(kyc_status)                                              as kyc_status,
        max(aml_feature_date)                                        as aml_feature_date,
        {{ bool_or('is_structuring_suspected') }}                   as is_structuring_suspected,
        max(high_risk_country_transfers_30d)                         as high_risk_country_transfers_30d,
        max(velocity_zscore)                                         as velocity_zscore
    from account_inputs
    group by customer_id

),

components as (

    select
        customer_inputs.customer_id,
        customer_inputs.kyc_status,
        customer_inputs.aml_feature_date,
        case customer_inputs.kyc_status
            when 'verified' then 0 when 'pending' then 15 when 'expired' then 20 else 30
        end                                                                            as kyc_component,
        case customer_inputs.country_risk_rank
            when 4 then 40 when 3 then 25 when 2 then 10 else 0
        end                                                                            as country_component,
        least(
            30,
            case when customer_inputs.is_structuring_suspected then 20 else 0 end
            + case when customer_inputs.high_risk_country_transfers_30d > 0 then 10 else 0 end
            + case when customer_inputs.velocity_zscore >= 3 then 10 else 0 end
        )                                                                              as aml_component,
        least(
            20,
            case when coalesce(fraud_cases.fraud_cases_count, 0) > 0 then 10 else 0 end
            + case when activity.max_fraud_score_90d >= {{ var('fraud_score_critical') }} then 10 else 0 end
        )                                                                              as fraud_component,
        coalesce(fraud_cases.fraud_cases_count, 0)                                     as fraud_cases_count
    from customer_inputs
    left join activity
        on activity.customer_id = customer_inputs.customer_id
    left join fraud_cases
        on fraud_cases.customer_id = customer_inputs.customer_id

),

scored as (

    select
        *,
        least(100, kyc_component + country_component + aml_component + fraud_component) as risk_score
    from components

)

select
    cast(customer_id as varchar)             as customer_id,
    cast(risk_score as integer)              as risk_score,
    cast(
        case
            when risk_score >= 60 then 'critical'
            when risk_score >= 40 then 'high'
            when risk_score >= 20 then 'medium'
            else 'low'
        end as varchar
    )                                        as risk_band,
    cast(kyc_component as integer)           as kyc_component,
    cast(country_component as integer)       as country_component,
    cast(aml_component as integer)           as aml_component,
    cast(fraud_component as integer)         as fraud_component,
    cast(fraud_cases_count as bigint)        as fraud_cases_count,
    cast(kyc_status as varchar)              as kyc_status,
    cast(aml_feature_date as date)           as scored_as_of_date
from scored
