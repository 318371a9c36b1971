-- Customers compliance must review this period: currency transaction reports (CTR), enhanced due
-- diligence (EDD) and suspicious activity report (SAR) candidates. One row per customer with a trigger.
with transfers as (

    select * from {{ ref('int_transfers_enriched') }}
    where status <> 'failed' or is_high_risk_corridor

),

risk_inputs as (

    select * from {{ ref('int_account_risk_inputs') }}

),

period as (

    select
        max(initiated_date)                                                          as report_date,
        {{ dateadd('day', -var('aml_lookback_days'), 'max(initiated_date)') }}       as period_start
    from {{ ref('int_transfers_enriched') }}

),

daily_outbound as (

    select
        transfers.customer_id,
        transfers.initiated_date,
        sum(transfers.amount_usd)                                                    as outbound_usd,
        count(case when transfers.amount_usd >= {{ var('structuring_band_floor_usd') }}
                    and transfers.amount_usd < {{ var('ctr_threshold_usd') }} then 1 end) as near_threshold_count
    from transfers
    cross join period
    where transfers.is_external
      and transfers.status <> 'failed'
      and transfers.initiated_date > period.period_start
    group by transfers.customer_id, transfers.initiated_date

),

outbound as (

    select
        customer_id,
        sum(outbound_usd)                                                            as outbound_usd_period,
        max(outbound_usd)                                                            as max_daily_outbound_usd,
        max(near_threshold_count)                                                    as max_daily_near_threshold_count
    from daily_outbound
    group by customer_id

),

corridors as (

    select
        transfers.customer_id,
        count(*)                                                                     as high_risk_corridor_transfers,
        count(case when transfers.counterparty_risk_rating = 'prohibited' then 1 end) as prohibited_corridor_attempts
    from transfers
    cross join period
    where transfers.is_high_risk_corridor
      and transfers.initiated_date > period.period_start
    group by transfers.customer_id

),

customers as (

    select
        customer_id,
        max(country_code)                                        as country_code,
        max(case country_risk_rating
                when 'prohibited' then 4 when 'high' then 3 when 'medium' then 2 else 1
            end)                                                 as country_risk_rank,
        max(kyc_status)                                          as kyc_status,
        {{ bool_or('is_structuring_suspected') }}               as is_structuring_suspected
    from risk_inputs
    group by customer_id

),

flagged as (

    select
        customers.customer_id,
        customers.country_code,
        customers.kyc_status,
        coalesce(outbound.outbound_usd_period, 0)                                    as outbound_usd_period,
        coalesce(outbound.max_daily_outbound_usd, 0)                                 as max_daily_outbound_usd,
        coalesce(corridors.high_risk_corridor_transfers, 0)                          as high_risk_corridor_transfers,
        coalesce(outbound.max_daily_outbound_usd, 0) >= {{ var('ctr_threshold_usd') }} as requires_ctr,
        customers.country_risk_rank >= 3
            or coalesce(corridors.high_risk_corridor_transfers, 0) > 0               as requires_edd,
        customers.is_structuring_suspected
            or coalesce(outbound.max_daily_near_threshold_count, 0) >= 2
            or coalesce(corridors.prohibited_corridor_attempts, 0) > 0               as is_sar_candidate
    from customers
    left join outbound
        on outbound.customer_id = customers.customer_id
    left join corridors
        on corridors.customer_id = customers.customer_id

)

select
    cast(flagged.customer_id as varchar)                     as customer_id,
    cast(period.report_date as date)                         as report_date,
    cast(period.period_start as date)                        as period_start,
    cast(flagged.country_code as varchar)                    as country_code,
    cast(flagged.kyc_status as varchar)                      as kyc_status,
    cast(flagged.outbound_usd_period as decimal(18, 2))      as outbound_usd_period,
    cast(flagged.max_daily_outbound_usd as decimal(18, 2))   as max_daily_outbound_usd,
    cast(flagged.high_risk_corridor_transfers as bigint)     as high_risk_corridor_transfers,
    cast(flagged.requires_ctr as boolean)                    as requires_ctr,
    cast(flagged.requires_edd as boolean)                    as requires_edd,
    cast(flagged.is_sar_candidate as boolean)                as is_sar_candidate,
    cast(
        rtrim(
            case when flagged.requires_ctr then 'ctr,' else '' end
            || case when flagged.requires_edd then 'edd,' else '' end
            || case when flagged.is_sar_candidate then 'sar,' else '' end,
            ','
        ) as varchar
    )                                                        as review_reasons
from flagged
cross join period
where flagged.requires_ctr
   or flagged.requires_edd
   or flagged.is_sar_candidate
