"""The change scenarios of the engine-core issue, on the fixture workspace spanning all kinds."""

import json

import pytest

from tests.conftest import affected


def why(ws, label, since="HEAD"):
    from graphbuild.labels import Label

    with ws.session() as session:
        return session.changes(since).reasons.get(Label.parse(label))


@pytest.mark.parametrize(
    "new",
    [
        "select  merchant_id,\n\tmerchant_name,   country\n\n from {{ref('stg_merchants')}}\n",  # whitespace
        "-- merchants\nselect merchant_id, /* name */ merchant_name, country from {{ ref('stg_merchants') }} {# j #}\n",  # comments
        "SELECT merchant_id, merchant_name, country FROM {{ ref('stg_merchants') }}\n",  # keyword case
    ],
)
def test_cosmetic_sql_edits_affect_nothing(mini, new):
    mini.write({"dbt/models/marts/dim_merchants.sql": new})
    assert affected(mini) == set()


def test_dbt_description_edit_is_metadata_only(mini):
    mini.edit("dbt/models/marts/_marts.yml", "description: One row per payment.", "description: One row per settled payment.")
    with mini.session() as session:
        changes = session.changes("HEAD")
    assert changes.affected == ()
    assert [str(label) for label in changes.metadata_only] == ["//dbt:fct_payments"]
    assert changes.reasons[changes.metadata_only[0]].aspects == ("description changed: description",)


def test_adding_a_column_affects_the_model_downstream_models_and_their_dags_only(mini):
    mini.edit("dbt/models/marts/fct_payments.sql", "    p.amount,\n", "    p.amount,\n    p.amount * 0.01 as fee_amount,\n")
    assert affected(mini) == {"//dbt:fct_payments", "//dbt:rpt_daily_volume", "//dags/payments:payments_daily"}
    reason = why(mini, "//dbt:fct_payments")
    assert reason.kind == "changed"
    assert "column added: fee_amount" in reason.aspects
    assert reason.files == ("dbt/models/marts/fct_payments.sql",)
    dag = why(mini, "//dags/payments:payments_daily")
    assert [str(p) for p in dag.path] == ["//dags/payments:payments_daily", "//dbt:fct_payments"]


def test_column_type_in_yaml_is_data(mini):
    mini.edit("dbt/models/marts/_marts.yml", "data_type: decimal(18,2)", "data_type: decimal(38,4)")
    assert "//dbt:fct_payments" in affected(mini)
    assert "column data_type changed: amount" in why(mini, "//dbt:fct_payments").aspects


def test_optional_avro_field_affects_the_topic_and_its_consumers(mini):
    path = "kafka/topics/payments.v1/schema.avsc"
    schema = json.loads(mini.read(path))
    schema["fields"].append({"name": "channel", "type": ["null", "string"], "default": None})
    mini.write({path: json.dumps(schema, indent=4)})
    assert affected(mini) == {
        "//kafka/topics:payments.v1",
        "//spark/jobs/payments_clean:payments_clean",
        "//dbt:lake.payments_clean",
        "//dbt:stg_payments",
        "//dbt:fct_payments",
        "//dbt:rpt_daily_volume",
        "//dags/payments:payments_daily",
    }
    assert "Avro field added: channel" in why(mini, "//kafka/topics:payments.v1").aspects


def test_avro_default_change_and_doc_edit(mini):
    path = "kafka/topics/payments.v1/schema.avsc"
    mini.write({path: mini.read(path).replace('"default": "EUR"', '"default": "USD"')})
    assert "Avro field default changed: currency" in why(mini, "//kafka/topics:payments.v1").aspects
    mini.git("checkout", "-q", ".")
    mini.write({path: mini.read(path).replace('"doc": "Unique id."', '"doc": "The unique id."')})
    assert affected(mini) == set()
    assert why(mini, "//kafka/topics:payments.v1").kind == "metadata"


def test_json_formatting_of_a_schema_affects_nothing(mini):
    path = "kafka/topics/payments.v1/schema.avsc"
    mini.write({path: json.dumps(json.loads(mini.read(path)), separators=(",", ":"))})
    assert affected(mini) == set()


def test_editing_a_dag_helper_affects_exactly_the_dags_importing_it(mini):
    mini.edit("dags/common/spark.py", "spark-submit", "spark-submit --deploy-mode cluster")
    assert affected(mini) == {"//dags/common:spark", "//dags/payments:payments_daily"}
    mini.git("checkout", "-q", ".")
    mini.edit("dags/common/dbt.py", "dbt build", "dbt build --fail-fast")
    assert affected(mini) == {"//dags/common:dbt", "//dags/payments:payments_daily", "//dags/payments:merchants_weekly"}


def test_python_comments_and_docstrings_affect_nothing(mini):
    mini.edit("dags/common/spark.py", '"""Spark task helper."""', '"""Spark task helper, documented better."""\n# a comment')
    assert affected(mini) == set()


def test_global_input_affects_everything(mini):
    mini.write({"constraints.txt": "dbt-core==1.11.1\n"})
    with mini.session() as session:
        changes = session.changes("HEAD")
        everything = set(session.graph().targets)
    assert set(changes.affected) == everything
    assert any("global input changed: constraints.txt" in r.aspects for r in changes.reasons.values() if r.kind == "changed")


def test_dag_schedule_change_is_named(mini):
    mini.edit("dags/payments/payments_daily.py", '"0 2 * * *"', '"0 3 * * *"')
    assert affected(mini) == {"//dags/payments:payments_daily"}
    assert why(mini, "//dags/payments:payments_daily").aspects == ("DAG schedule changed: schedule",)


def test_dag_description_is_metadata(mini):
    mini.edit("dags/payments/payments_daily.py", 'description="Daily payments marts"', 'description="Daily payments marts (v2)"')
    assert affected(mini) == set()


def test_terraform_formatting_affects_nothing_but_a_setting_affects_module_and_stack(mini):
    path = "terraform/modules/lake_bucket/main.tf"
    mini.write({path: mini.read(path).replace("  bucket = var.name", "  # the name\n  bucket   =   var.name")})
    assert affected(mini) == set()
    mini.edit(path, 'sse_algorithm = "aws:kms"', 'sse_algorithm = "AES256"')
    assert affected(mini) == {"//terraform/modules/lake_bucket:lake_bucket", "//terraform/envs/dev:dev"}
    assert why(mini, "//terraform/modules/lake_bucket").aspects == (
        "Terraform block rule changed: resource.aws_s3_bucket_server_side_encryption_configuration.lake",
    )


def test_terraform_tag_value_edit_is_metadata_of_the_stack_only(mini):
    # tag keys are checked by the tag policy (data); their values re-deploy the stack and re-run no check
    mini.edit("terraform/envs/dev/main.tf", 'Owner              = "platform-team"', 'Owner              = "data-team"')
    assert affected(mini) == set()
    with mini.session() as session:
        changes = session.changes("HEAD")
    assert [str(x) for x in changes.metadata_only] == ["//terraform/envs/dev:dev"]
    assert why(mini, "//terraform/envs/dev").aspects == ("Terraform tag value changed: module.lake.tags.Owner",)


def test_terraform_tag_key_edit_affects_the_stack(mini):
    mini.edit("terraform/envs/dev/main.tf", 'Owner              = "platform-team"', 'Team               = "platform-team"')
    assert affected(mini) == {"//terraform/envs/dev:dev"}


def test_spark_job_declared_write_change_moves_the_edge(mini):
    mini.edit("spark/jobs/payments_clean/BUILD", '"table:lake.payments_clean"', '"table:lake.payments_clean_v2"')
    result = affected(mini)
    assert "//spark/jobs/payments_clean:payments_clean" in result
    assert "//dbt:lake.payments_clean" in result  # lost its producer
    assert "attribute changed: writes" in why(mini, "//spark/jobs/payments_clean").aspects


def test_added_and_removed_targets(mini):
    mini.write({"dbt/models/marts/rpt_new.sql": "select 1 as x from {{ ref('fct_payments') }}", "dbt/models/marts/rpt_daily_volume.sql": None})
    with mini.session() as session:
        changes = session.changes("HEAD")
    assert [str(x) for x in changes.affected] == ["//dbt:rpt_new"]
    assert changes.reasons[changes.affected[0]].kind == "added"
    assert [str(x) for x in changes.removed] == ["//dbt:rpt_daily_volume"]


def test_removing_a_model_a_dag_still_runs_is_an_error_naming_the_dag_line(mini):
    from graphbuild.errors import UnresolvedDependencyError

    mini.write({"dbt/models/marts/dim_merchants.sql": None})
    with mini.session() as session, pytest.raises(UnresolvedDependencyError) as info:
        session.changes("HEAD")
    assert (info.value.file, info.value.line) == ("dags/payments/merchants_weekly.py", 15)


def test_seed_rows_and_unit_tests_are_data(mini):
    mini.edit("dbt/seeds/currencies.csv", "JPY,Yen,0", "JPY,Japanese Yen,0")
    assert {"//dbt:currencies", "//dbt:fct_payments"} <= affected(mini)
    mini.git("checkout", "-q", ".")
    mini.edit("dbt/models/marts/_marts.yml", "volume: 3.50", "volume: 3.5000")
    assert affected(mini) == set()  # the same number
    mini.edit("dbt/models/marts/_marts.yml", "volume: 3.5000", "volume: 3.60")
    assert affected(mini) == {"//dbt:rpt_daily_volume"}
    assert why(mini, "//dbt:rpt_daily_volume").aspects == ("unit test expect changed: volume_sums_per_day",)


def test_macro_change_affects_models_calling_it(mini):
    mini.edit("dbt/macros/money.sql", "/ 100", "/ 100.0")
    result = affected(mini)
    assert {"//dbt:macros.money", "//dbt:stg_payments", "//dbt:fct_payments"} <= result
    assert "//dbt:dim_merchants" not in result


def test_since_and_until_between_commits(mini):
    base = mini.git("rev-parse", "HEAD")
    mini.edit("dags/payments/payments_daily.py", '"0 2 * * *"', '"0 3 * * *"')
    head = mini.commit("schedule")
    mini.edit("dbt/macros/money.sql", "/ 100", "/ 100.0")  # uncommitted: not part of base..head
    with mini.session() as session:
        changes = session.changes(base, head)
    assert [str(x) for x in changes.affected] == ["//dags/payments:payments_daily"]
