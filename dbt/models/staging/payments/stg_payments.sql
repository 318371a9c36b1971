with source as (

    select * from {{ source('lake', 'payments_clean') }}

),

renamed as (

    select
        cast(payment_id as varchar)                              as payment_id,
        cast(account_id as varchar)                              as account_id,
        cast(merchant_id as varchar)                             as merchant_id,
        cast(card_id as varchar)                                 as card_id,
        lower(cast(payment_method as varchar))                   as payment_method,
        lower(cast(channel as varchar))                          as channel,
        lower(cast(status as varchar))                           as status,
        upper(cast(currency as varchar))                         as currency_code,
        cast(amount_minor as bigint)                             as amount_minor,
        {{ minor_to_major('amount_minor', 'currency') }}         as amount,
        upper(cast(country_code as varchar))                     as country_code,
        cast(created_at as timestamp)                            as created_at,
        cast(updated_at as timestamp)                            as updated_at,
        cast(cast(created_at as timestamp) as date)              as payment_date
    from source

)

select * from renamed
