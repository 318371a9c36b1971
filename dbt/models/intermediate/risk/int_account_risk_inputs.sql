-- Everything the risk scoring needs per account, in one place. Countries compliance has not rated yet are
-- treated as high risk until they are.
with accounts as (

    select * from {{ ref('stg_accounts') }}

),

latest_aml_features as (

    select *
    from {{ ref('stg_aml_features') }}
    qualify row_number() over (partition by customer_id order by feature_date desc) = 1

),

kyc as (

    select * from {{ ref('int_kyc_status_latest') }}

),

country_risk as (

    select * from {{ ref('country_risk_ratings') }}

)

select
    accounts.account_id,
    accounts.customer_id,
    accounts.account_type,
    accounts.account_status,
    accounts.country_code,
    coalesce(country_risk.risk_rating, 'high')                                       as country_risk_rating,
    cast(coalesce(country_risk.risk_score, 75) as integer)                           as country_risk_score,
    coalesce(country_risk.is_sanctioned, false)                                      as is_sanctioned_country,
    coalesce(kyc.kyc_status, 'not_started')                                          as kyc_status,
    kyc.kyc_level,
    latest_aml_features.feature_date                                                 as aml_feature_date,
    cast(coalesce(latest_aml_features.txn_count_30d, 0) as integer)                  as txn_count_30d,
    cast(coalesce(latest_aml_features.outbound_amount_usd_30d, 0) as decimal(18, 2)) as outbound_amount_usd_30d,
    cast(coalesce(latest_aml_features.high_risk_country_transfers_30d, 0) as integer) as high_risk_country_transfers_30d,
    coalesce(latest_aml_features.is_structuring_suspected, false)                    as is_structuring_suspected,
    latest_aml_features.velocity_zscore
from accounts
left join latest_aml_features
    on latest_aml_features.customer_id = accounts.customer_id
left join kyc
    on kyc.customer_id = accounts.customer_id
left join country_risk
    on country_risk.country_code = accounts.country_code
