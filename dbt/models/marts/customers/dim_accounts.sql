with accounts as (

    select * from {{ ref('stg_accounts') }}

),

latest_balances as (

    select *
    from {{ ref('int_ledger_balances_daily') }}
    where gl_account_code = '2010'
      and account_id is not null
    qualify row_number() over (partition by account_id, currency_code order by balance_date desc) = 1

),

risk_inputs as (

    select * from {{ ref('int_account_risk_inputs') }}

)

select
    cast(accounts.account_id as varchar)                                 as account_id,
    cast(accounts.customer_id as varchar)                                as customer_id,
    cast(accounts.account_type as varchar)                               as account_type,
    cast(accounts.account_status as varchar)                             as account_status,
    cast(accounts.account_status = 'active' as boolean)                  as is_active,
    cast(accounts.currency_code as varchar)                              as currency_code,
    cast(accounts.country_code as varchar)                               as country_code,
    cast(accounts.opened_at as timestamp)                                as opened_at,
    cast(accounts.closed_at as timestamp)                                as closed_at,
    cast(coalesce(latest_balances.closing_balance, 0) as decimal(18, 2)) as current_balance,
    cast(latest_balances.balance_date as date)                           as balance_as_of_date,
    cast(risk_inputs.country_risk_rating as varchar)                     as country_risk_rating,
    cast(risk_inputs.kyc_status as varchar)                              as kyc_status
from accounts
left join latest_balances
    on latest_balances.account_id = accounts.account_id
    and latest_balances.currency_code = accounts.currency_code
left join risk_inputs
    on risk_inputs.account_id = accounts.account_id
