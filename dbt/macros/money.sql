{#- Money helpers. Amounts travel through the lake as integer minor units; the warehouse keeps DECIMAL(18,2). -#}

{#- ISO 4217 currencies without a minor unit: one minor unit is one major unit. -#}
{% macro zero_decimal_currencies() -%}
    ('JPY', 'KRW', 'VND', 'CLP', 'ISK', 'XOF', 'XAF', 'UGX')
{%- endmacro %}

{#- Converts integer minor units (cents, pence) into a DECIMAL(18,2) amount in major units. -#}
{% macro minor_to_major(amount_minor, currency_code) -%}
    cast(
        cast({{ amount_minor }} as decimal(18, 0))
        * case when upper({{ currency_code }}) in {{ zero_decimal_currencies() }} then 1 else 0.01 end
        as decimal(18, 2)
    )
{%- endmacro %}

{#- The rate that turns one unit of a currency into USD; USD itself needs no rate. -#}
{% macro usd_rate(rate, currency_code) -%}
    coalesce({{ rate }}, case when {{ currency_code }} = 'USD' then cast(1 as decimal(18, 8)) end)
{%- endmacro %}

{#- Converts an amount with a rate to USD, rounded half away from zero to cents. -#}
{% macro to_usd(amount, rate) -%}
    cast(round({{ amount }} * {{ rate }}, 2) as decimal(18, 2))
{%- endmacro %}
