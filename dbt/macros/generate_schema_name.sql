{#-
    Layer schemas. In staging and prod the custom schema is used as is (STAGING, INTERMEDIATE, MARTS, REFERENCE
    inside the environment's database); everywhere else it is prefixed with the target schema so that
    developer and CI builds never write into a shared schema.
    A graphbuild deploy to the local backend names each node's physical schema (one per model version) in the
    var graphbuild_physical_schemas; it wins when set.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set default_schema = target.schema -%}
    {%- set physical = var('graphbuild_physical_schemas', {}) -%}
    {%- if node is not none and node.name in physical -%}
        {{ physical[node.name] }}
    {%- elif custom_schema_name is none -%}
        {{ default_schema }}
    {%- elif target.name in ('staging', 'prod') -%}
        {{ custom_schema_name | trim }}
    {%- else -%}
        {{ default_schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
