-- Customer-level activity across payments and transfers, with the customer 360 features of record.
with accounts as (

    select * from {{ ref('stg_accounts') }}

),

payments as (

    select * from {{ ref('int_payments_enriched') }}

),

transfers as (

    select * from {{ ref('int_transfers_enriched') }}

),

latest_features as (

    select *
    from {{ ref('stg_customer_features') }}
    qualify row_number() over (partition by customer_id order by feature_date desc) = 1

),

account_rollup as (

    select
        customer_id,
        count(*)                                                  as accounts_count,
        count(case when account_status = 'active' then 1 end)     as active_accounts_count,
        min(opened_at)                                            as first_account_opened_at
    from accounts
    group by customer_id

),

payment_rollup as (

    select
        customer_id,
        count(*)                                                          as payments_count,
        count(case when is_successful then 1 end)                         as successful_payments_count,
        sum(case when is_successful then amount_usd else 0 end)           as payments_amount_usd,
        max(created_at)                                                   as last_payment_at
    from payments
    group by customer_id

),

outbound_rollup as (

    select
        customer_id,
        count(*)                                                          as transfers_out_count,
        sum(case when status = 'completed' then amount_usd else 0 end)    as transfers_out_amount_usd,
        max(initiated_at)                                                 as last_transfer_at
    from transfers
    where status <> 'failed'
    group by customer_id

),

inbound_rollup as (

    select
        destination_customer_id                                           as customer_id,
        count(*)                                                          as transfers_in_count,
        sum(amount_usd)                                                   as transfers_in_amount_usd
    from transfers
    where destination_customer_id is not null
      and status = 'completed'
    group by destination_customer_id

)

select
    account_rollup.customer_id,
    cast(account_rollup.accounts_count as bigint)                                 as accounts_count,
    cast(account_rollup.active_accounts_count as bigint)                          as active_accounts_count,
    account_rollup.first_account_opened_at,
    cast(coalesce(payment_rollup.payments_count, 0) as bigint)                    as payments_count,
    cast(coalesce(payment_rollup.successful_payments_count, 0) as bigint)         as successful_payments_count,
    cast(coalesce(payment_rollup.payments_amount_usd, 0) as decimal(18, 2))       as payments_amount_usd,
    cast(coalesce(outbound_rollup.transfers_out_count, 0) as bigint)              as transfers_out_count,
    cast(coalesce(outbound_rollup.transfers_out_amount_usd, 0) as decimal(18, 2)) as transfers_out_amount_usd,
    cast(coalesce(inbound_rollup.transfers_in_count, 0) as bigint)                as transfers_in_count,
    cast(coalesce(inbound_rollup.transfers_in_amount_usd, 0) as decimal(18, 2))   as transfers_in_amount_usd,
    payment_rollup.last_payment_at,
    outbound_rollup.last_transfer_at,
    case
        when outbound_rollup.last_transfer_at is null then payment_rollup.last_payment_at
        when payment_rollup.last_payment_at is null then outbound_rollup.last_transfer_at
        when payment_rollup.last_payment_at >= outbound_rollup.last_transfer_at then payment_rollup.last_payment_at
        else outbound_rollup.last_transfer_at
    end                                                                           as last_activity_at,
    latest_features.tenure_days,
    latest_features.avg_fraud_score_90d,
    latest_features.max_fraud_score_90d
from account_rollup
left join payment_rollup
    on payment_rollup.customer_id = account_rollup.customer_id
left join outbound_rollup
    on outbound_rollup.customer_id = account_rollup.customer_id
left join inbound_rollup
    on inbound_rollup.customer_id = account_rollup.customer_id
left join latest_features
    on latest_features.customer_id = account_rollup.customer_id
