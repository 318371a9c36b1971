{#- A ratio rounded to `scale` decimals that is NULL instead of an error when the denominator is zero or NULL. -#}
{% macro safe_divide(numerator, denominator, scale=6) -%}
    case
        when {{ denominator }} is null or {{ denominator }} = 0 then null
        else cast(round(cast({{ numerator }} as double) / cast({{ denominator }} as double), {{ scale }}) as decimal(18, {{ scale }}))
    end
{%- endmacro %}
