with transfers as (

    select * from {{ ref('stg_transfers') }}

),

accounts as (

    select * from {{ ref('stg_accounts') }}

),

country_risk as (

    select * from {{ ref('country_risk_ratings') }}

),

fx_rates as (

    select * from {{ ref('stg_fx_rates') }}

),

applicable_rates as (

    select
        transfers.transfer_id,
        fx_rates.rate_to_usd
    from transfers
    inner join fx_rates
        on fx_rates.currency_code = transfers.currency_code
        and fx_rates.rate_date <= transfers.initiated_date
    qualify row_number() over (partition by transfers.transfer_id order by fx_rates.rate_date desc) = 1

),

enriched as (

    select
        transfers.transfer_id,
        source_accounts.customer_id,
        transfers.source_account_id,
        transfers.destination_account_id,
        destination_accounts.customer_id                                      as destination_customer_id,
        transfers.transfer_type,
        transfers.rail,
        transfers.status,
        transfers.counterparty_country,
        case
            when transfers.transfer_type = 'international' then coalesce(country_risk.risk_rating, 'high')
        end                                                                   as counterparty_risk_rating,
        transfers.currency_code,
        transfers.amount,
        transfers.fee_amount,
        {{ usd_rate('applicable_rates.rate_to_usd', 'transfers.currency_code') }} as fx_rate_to_usd,
        transfers.initiated_at,
        transfers.initiated_date,
        transfers.completed_at,
        transfers.updated_at
    from transfers
    left join accounts as source_accounts
        on source_accounts.account_id = transfers.source_account_id
    left join accounts as destination_accounts
        on destination_accounts.account_id = transfers.destination_account_id
    left join country_risk
        on country_risk.country_code = transfers.counterparty_country
    left join applicable_rates
        on applicable_rates.transfer_id = transfers.transfer_id

)

select
    *,
    transfer_type <> 'internal'                                         as is_external,
    coalesce(counterparty_risk_rating in ('high', 'prohibited'), false) as is_high_risk_corridor,
    {{ to_usd('amount', 'fx_rate_to_usd') }}                            as amount_usd,
    {{ to_usd('fee_amount', 'fx_rate_to_usd') }}                        as fee_amount_usd
from enriched
