-- Customers are not mastered in the lake as a table of their own: their attributes come from the accounts
-- they hold (segment and residence are customer-level fields repeated on every account).
with accounts as (

    select * from {{ ref('stg_accounts') }}

),

profile as (

    select
        customer_id,
        customer_segment,
        country_code
    from accounts
    qualify row_number() over (partition by customer_id order by opened_at desc, account_id) = 1

),

kyc as (

    select * from {{ ref('int_kyc_status_latest') }}

),

activity as (

    select * from {{ ref('int_customer_activity') }}

)

select
    cast(profile.customer_id as varchar)                             as customer_id,
    cast(profile.customer_segment as varchar)                        as customer_segment,
    cast(profile.country_code as varchar)                            as country_code,
    cast(coalesce(kyc.kyc_status, 'not_started') as varchar)         as kyc_status,
    cast(kyc.kyc_level as varchar)                                   as kyc_level,
    cast(coalesce(kyc.is_verified, false) as boolean)                as is_kyc_verified,
    cast(activity.first_account_opened_at as timestamp)              as first_account_opened_at,
    cast(activity.accounts_count as bigint)                          as accounts_count,
    cast(activity.active_accounts_count as bigint)                   as active_accounts_count,
    cast(activity.payments_count as bigint)                          as payments_count,
    cast(activity.payments_amount_usd as decimal(18, 2))             as payments_amount_usd,
    cast(activity.transfers_out_amount_usd as decimal(18, 2))        as transfers_out_amount_usd,
    cast(activity.last_activity_at as timestamp)                     as last_activity_at
from profile
left join kyc
    on kyc.customer_id = profile.customer_id
left join activity
    on activity.customer_id = profile.customer_id
