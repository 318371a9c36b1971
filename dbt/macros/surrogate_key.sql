{#-
    A stable hashed key over several columns (the same construction as dbt_utils.generate_surrogate_key, so keys
    stay comparable with the warehouse's older models). NULL and the empty string hash differently.
-#}
{% macro generate_surrogate_key(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append("coalesce(cast(" ~ column ~ " as varchar), '_dbt_null_')") -%}
    {%- endfor -%}
    md5({{ parts | join(" || '-' || ") }})
{%- endmacro %}
