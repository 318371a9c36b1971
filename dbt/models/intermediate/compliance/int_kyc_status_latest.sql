-- Current KYC position per customer: the latest event decides the status.
with events as (

    select * from {{ ref('stg_kyc_events') }}

),

ranked as (

    select
        *,
        row_number() over (partition by customer_id order by occurred_at desc, kyc_event_id desc) as recency_rank
    from events

),

history as (

    select
        customer_id,
        count(*)                                                       as events_count,
        min(occurred_at)                                               as first_event_at,
        max(case when event_type = 'approved' then occurred_at end)    as last_approved_at
    from events
    group by customer_id

)

select
    ranked.customer_id,
    case ranked.event_type
        when 'approved' then 'verified'
        when 'rejected' then 'rejected'
        when 'expired' then 'expired'
        else 'pending'
    end                                          as kyc_status,
    ranked.event_type                            as latest_event_type,
    ranked.kyc_level,
    ranked.reason                                as latest_reason,
    ranked.occurred_at                           as last_event_at,
    history.first_event_at,
    history.last_approved_at,
    cast(history.events_count as bigint)         as events_count,
    ranked.event_type = 'approved'               as is_verified
from ranked
inner join history
    on history.customer_id = ranked.customer_id
where ranked.recency_rank = 1
