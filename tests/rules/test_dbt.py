"""The dbt rule on the fixture workspace: what is data, what is metadata, what is owned, what is tested."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphbuild.labels import Label
from tests.conftest import affected


def _why(ws, label):
    with ws.session() as session:
        return session.changes("HEAD").reasons.get(Label.parse(label))


def _metadata_only(ws) -> set[str]:
    with ws.session() as session:
        return {str(label) for label in session.changes("HEAD").metadata_only}


# --- folder-level configs in dbt_project.yml --------------------------------------------------------


def test_folder_tags_and_docs_in_dbt_project_yml_are_metadata(mini):
    mini.edit(
        "dbt/dbt_project.yml",
        "    marts:\n      +materialized: table\n",
        "    marts:\n      +materialized: table\n      +tags: [finance]\n      +docs: {node_color: green}\n"
        "      +meta: {owner: payments}\n",
    )
    assert affected(mini) == set()
    assert {"//dbt:fct_payments", "//dbt:dim_merchants", "//dbt:rpt_daily_volume"} <= _metadata_only(mini)


def test_folder_materialization_in_dbt_project_yml_is_still_data(mini):
    mini.edit("dbt/dbt_project.yml", "    marts:\n      +materialized: table\n", "    marts:\n      +materialized: view\n")
    assert {"//dbt:fct_payments", "//dbt:dim_merchants", "//dbt:rpt_daily_volume"} <= affected(mini)
    assert "//dbt:stg_payments" not in affected(mini)


# --- tests on columns not yet declared in YAML ------------------------------------------------------


def test_test_on_an_undeclared_column_reruns_the_model_only(mini):
    mini.edit(
        "dbt/models/staging/_staging.yml",
        "  - name: stg_merchants\n    description: Staged merchants.\n",
        "  - name: stg_merchants\n    description: Staged merchants.\n    columns:\n      - name: merchant_id\n"
        "        data_tests: [not_null]\n      - name: owner_email\n        description: Not in the SQL.\n"
        "        data_tests: [not_null]\n",
    )
    assert affected(mini) == {"//dbt:stg_merchants"}


def test_test_on_a_model_without_yaml_reruns_the_model_only(mini):
    mini.edit("dbt/models/marts/_marts.yml", "  - name: dim_merchants\n    description: Merchants.\n", "")
    mini.commit("no yaml for dim_merchants")
    mini.edit(
        "dbt/models/marts/_marts.yml",
        "unit_tests:\n",
        "  - name: dim_merchants\n    columns:\n      - name: merchant_id\n        data_tests: [unique]\nunit_tests:\n",
    )
    assert affected(mini) == {"//dbt:dim_merchants"}


def test_a_seed_column_test_reruns_the_seed_only(mini):
    mini.edit(
        "dbt/seeds/_seeds.yml",
        "        minor_units: integer\n",
        "        minor_units: integer\n    columns:\n      - name: code\n        data_tests: [unique, not_null]\n",
    )
    assert affected(mini) == {"//dbt:currencies"}


def test_type_on_an_undeclared_column_is_data_downstream(mini):
    mini.edit(
        "dbt/models/staging/_staging.yml",
        "  - name: stg_merchants\n    description: Staged merchants.\n",
        "  - name: stg_merchants\n    description: Staged merchants.\n    columns:\n      - name: country\n"
        "        data_type: varchar\n",
    )
    assert {"//dbt:stg_merchants", "//dbt:dim_merchants"} <= affected(mini)


# --- disabled nodes and vars ------------------------------------------------------------------------

DISABLED = {
    "dbt/models/marts/legacy_sql.sql": "{{ config(enabled=false) }}\nselect 1 as x\n",
    "dbt/models/archive/legacy_folder.sql": "select 1 as x\n",
    "dbt/models/marts/legacy_yaml.sql": "select 1 as x\n",
    "dbt/models/marts/beta_yaml.sql": "select 1 as x\n",
    "dbt/models/marts/beta_sql.sql": "{{ config(enabled=var('with_beta', false)) }}\nselect 2 as y\n",
}


def _disable(ws):
    ws.write(DISABLED)
    ws.edit("dbt/dbt_project.yml", "    marts:\n", "    archive:\n      +enabled: false\n    marts:\n")
    ws.edit(
        "dbt/models/marts/_marts.yml",
        "unit_tests:\n",
        "  - name: legacy_yaml\n    config:\n      enabled: false\n"
        "  - name: beta_yaml\n    config:\n      enabled: \"{{ var('with_beta', false) }}\"\nunit_tests:\n",
    )


def _dbt_actions(ws) -> dict[str, list[str]]:
    from graphbuild.rule import RuleContext
    from rules.dbt import rule

    with ws.session() as session:
        settings = session.workspace.settings
        ctx = RuleContext(session.snapshot(), settings, settings.rule_settings("dbt"))
        graph = session.graph()
        return {t.label.name: [a.name for a in rule.actions(t, ctx)] for t in graph.targets.values() if t.rule == "dbt"}


def test_disabled_models_are_targets_without_checks(mini):
    _disable(mini)
    actions = _dbt_actions(mini)
    for name in ("legacy_sql", "legacy_folder", "legacy_yaml", "beta_yaml", "beta_sql"):
        assert actions[name] == [], name
    assert actions["fct_payments"] == ["dbt_build"]


def test_a_var_in_rules_dbt_settings_enables_a_model(mini):
    _disable(mini)
    mini.write({"graphbuild.toml": mini.read("graphbuild.toml") + "\n[rules.dbt]\nvars = { with_beta = true }\n"})
    actions = _dbt_actions(mini)
    assert actions["beta_yaml"] == actions["beta_sql"] == ["dbt_build"]
    assert actions["legacy_sql"] == actions["legacy_folder"] == actions["legacy_yaml"] == []


def _graphbuild_test(ws, capsys, *patterns):
    import json

    from graphbuild.cli import main

    code = main(["-C", str(ws.root), "--format", "json", "test", *patterns, "--keep-going"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_real_dbt_passes_with_disabled_models_and_builds_the_ones_a_var_enables(mini, capsys):
    _disable(mini)
    code, result = _graphbuild_test(mini, capsys, "//dbt/...")
    assert code == 0, [r for r in result["results"] if r["status"] != "passed"]
    built = {r["target"] for r in result["results"] if r["name"] == "dbt_build"}
    assert "//dbt:fct_payments" in built and not {f"//dbt:{n}" for n in ("legacy_sql", "beta_yaml", "beta_sql")} & built

    mini.write({"graphbuild.toml": mini.read("graphbuild.toml") + "\n[rules.dbt]\nvars = { with_beta = true }\n"})
    code, result = _graphbuild_test(mini, capsys, "//dbt:beta_yaml", "//dbt:beta_sql", "//dbt:legacy_sql")
    assert code == 0, [r for r in result["results"] if r["status"] != "passed"]
    assert {r["target"] for r in result["results"] if r["name"] == "dbt_build"} == {"//dbt:beta_yaml", "//dbt:beta_sql"}


# --- the semantic layer ----------------------------------------------------------------------------

SEMANTIC_YML = """\
semantic_models:
  - name: payments
    description: Payments for the semantic layer.
    model: ref('fct_payments')
    defaults:
      agg_time_dimension: created_at
    entities:
      - name: payment
        type: primary
        expr: payment_id
    dimensions:
      - name: created_at
        type: time
        type_params:
          time_granularity: day
      - name: currency
        type: categorical
    measures:
      - name: amount_total
        description: Sum of amounts.
        agg: sum
        expr: amount
      - name: payment_count
        agg: count
        expr: payment_id
metrics:
  - name: payment_volume
    label: Payment volume
    description: Total amount.
    type: simple
    type_params:
      measure: amount_total
  - name: payments
    label: Payments
    type: simple
    type_params:
      measure: payment_count
  - name: average_payment
    label: Average payment
    type: ratio
    type_params:
      numerator: payment_volume
      denominator: payments
saved_queries:
  - name: volume_by_currency
    description: Volume per currency.
    query_params:
      metrics: [payment_volume]
      group_by: ["Dimension('payment__currency')"]
"""
TIME_SPINE = {
    "dbt/models/marts/time_spine_daily.sql": (
        "select cast(range as date) as date_day\nfrom range(date '2026-01-01', date '2026-03-01', interval 1 day)\n"
    ),
    "dbt/models/marts/_time_spine.yml": (
        "models:\n  - name: time_spine_daily\n    time_spine:\n      standard_granularity_column: date_day\n"
        "    columns:\n      - name: date_day\n        granularity: day\n"
    ),
}
SEMANTIC_TARGETS = {
    "//dbt:semantic_models.payments", "//dbt:metrics.payment_volume", "//dbt:metrics.payments",
    "//dbt:metrics.average_payment", "//dbt:saved_queries.volume_by_currency",
}  # fmt: skip


@pytest.fixture
def semantic(mini):
    mini.write({"dbt/models/marts/_semantic.yml": SEMANTIC_YML, **TIME_SPINE})
    mini.commit("semantic layer")
    return mini


def test_semantic_layer_yaml_is_owned_by_one_target_per_entry(semantic, capsys):
    import json

    from graphbuild.cli import main

    with semantic.session() as session:
        graph = session.graph()
        owners = {str(label) for label in graph.owners["dbt/models/marts/_semantic.yml"]}
        kinds = {str(label): graph.targets[label].kind for label in graph.owners["dbt/models/marts/_semantic.yml"]}
    assert owners == SEMANTIC_TARGETS
    assert kinds["//dbt:metrics.payments"] == "dbt_metric" and kinds["//dbt:semantic_models.payments"] == "dbt_semantic_model"
    assert main(["-C", str(semantic.root), "--format", "json", "check"]) == 0, capsys.readouterr().out
    assert json.loads(capsys.readouterr().out)


def test_a_measure_change_affects_its_metrics_and_saved_queries_not_the_model(semantic):
    semantic.edit("dbt/models/marts/_semantic.yml", "        agg: count\n", "        agg: count_distinct\n")
    assert affected(semantic) == {"//dbt:semantic_models.payments", "//dbt:metrics.payment_volume", "//dbt:metrics.payments",
                                  "//dbt:metrics.average_payment", "//dbt:saved_queries.volume_by_currency"}


def test_a_metric_change_affects_what_is_computed_from_it_only(semantic):
    semantic.edit("dbt/models/marts/_semantic.yml", "      denominator: payments\n", "      denominator: payment_volume\n")
    assert affected(semantic) == {"//dbt:metrics.average_payment"}
    semantic.git("checkout", "-q", ".")
    semantic.edit("dbt/models/marts/_semantic.yml", "      metrics: [payment_volume]\n", "      metrics: [payment_volume, payments]\n")
    assert affected(semantic) == {"//dbt:saved_queries.volume_by_currency"}


def test_semantic_descriptions_and_labels_are_metadata(semantic):
    semantic.edit("dbt/models/marts/_semantic.yml", "description: Sum of amounts.", "description: Sum of all amounts.")
    semantic.edit("dbt/models/marts/_semantic.yml", "label: Payment volume", "label: Volume of payments")
    assert affected(semantic) == set()
    assert _metadata_only(semantic) == {"//dbt:semantic_models.payments", "//dbt:metrics.payment_volume"}


def test_a_model_change_reaches_the_semantic_layer_over_it(semantic):
    semantic.edit("dbt/models/marts/fct_payments.sql", "    p.amount,\n", "    p.amount,\n    p.amount * 0.01 as fee_amount,\n")
    assert SEMANTIC_TARGETS <= affected(semantic)
    semantic.git("checkout", "-q", ".")
    semantic.edit("dbt/models/marts/_marts.yml", "description: One row per payment.", "description: One row per settled payment.")
    assert affected(semantic) == set()


@given(key=st.sampled_from(["description", "docs", "meta", "tags", "label", "name", "agg", "expr", "config"]), value=st.text(max_size=5))
def test_the_semantic_layer_and_models_agree_on_what_is_documentation(key, value):
    """Review item 14: one list of documentation keys (dbt_config.DOC_KEYS) for models and the semantic layer."""
    from rules.dbt_config import split_docs
    from rules.dbt_semantic import split_nested_docs

    _, docs = split_nested_docs({"name": "payments", "measures": [{"name": "volume", key: value}]})
    _, model_docs = split_docs({"name": "volume", key: value})
    assert bool(docs and key in docs["measures"][0]) == (key in model_docs)


@pytest.mark.slow
def test_real_dbt_validates_the_semantic_layer(semantic, capsys):
    code, result = _graphbuild_test(semantic, capsys, *sorted(SEMANTIC_TARGETS))
    assert code == 0, [r for r in result["results"] if r["status"] != "passed"]
    parsed = {r["target"]: r["summary"] for r in result["results"] if r["name"] == "dbt_parse"}
    assert set(parsed) == SEMANTIC_TARGETS
    assert "dbt parses and validates" in parsed["//dbt:metrics.average_payment"]

    semantic.edit("dbt/models/marts/_semantic.yml", "agg_time_dimension: created_at", "agg_time_dimension: created_on")
    code, result = _graphbuild_test(semantic, capsys, "//dbt:semantic_models.payments", "//dbt:metrics.payments", "//dbt:fct_payments")
    assert code == 1
    summaries = {r["target"]: r["summary"] for r in result["results"] if r["name"] in ("dbt_parse", "dbt_build")}
    assert summaries["//dbt:semantic_models.payments"].startswith(
        "dbt/models/marts/_semantic.yml: dbt's semantic validation fails: "
    ) and "created_on" in summaries["//dbt:semantic_models.payments"]
    assert summaries["//dbt:metrics.payments"].startswith("not checked: dbt's semantic validation fails")
    assert summaries["//dbt:fct_payments"].startswith("not checked: dbt's semantic validation fails")


# --- tailor ----------------------------------------------------------------------------------------


def test_tailor_proposes_dbt_project_for_a_folder_with_dbt_project_yml(mini, capsys):
    import json

    from graphbuild.cli import main

    project = "analytics/finance"
    mini.write({
        f"{project}/dbt_project.yml": 'name: finance\nversion: "1.0.0"\nprofile: mini\nmodel-paths: ["models"]\n',
        f"{project}/models/revenue.sql": "select 1 as amount\n",
        f"{project}/models/_models.yml": "models:\n  - name: revenue\n    description: Revenue.\n",
        f"{project}/notes.txt": "not part of the project",
    })  # fmt: skip
    assert main(["-C", str(mini.root), "check"]) == 1
    capsys.readouterr()
    assert main(["-C", str(mini.root), "tailor", "--check"]) == 1
    assert capsys.readouterr().out == f"would write {project}/BUILD: dbt_project()\n"
    assert main(["-C", str(mini.root), "--format", "json", "tailor"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["still_unowned"] == [f"{project}/notes.txt"]
    assert (mini.root / project / "BUILD").read_text() == "dbt_project()\n"
    with mini.session() as session:
        graph = session.graph()
        assert graph.targets[Label.parse(f"//{project}:revenue")].kind == "dbt_model"
        assert f"{project}/models/_models.yml" in graph.owners


@pytest.mark.parametrize("name", ["rules.dbt_config", "rules.dbt_semantic"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0 and result.attempted > 0


# --- evaluating `enabled` without dbt ----------------------------------------------------------------


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.text(), st.lists(st.text())))
def test_is_enabled_answers_a_bool_for_any_value(value):
    from rules.dbt_config import is_enabled

    assert is_enabled([value], {"with_beta": True}, "dev") in (True, False)


def test_drill_an_enabled_expression_cannot_escape_the_sandbox(tmp_path):
    from rules.dbt_config import is_enabled

    marker = tmp_path / "pwned"
    attacks = [
        f"{{{{ cycler.__init__.__globals__.os.system('touch {marker}') }}}}",
        f"{{{{ ''.__class__.__mro__[1].__subclasses__() }}}}",
        f"{{{{ var.__globals__['__builtins__']['open']('{marker}', 'w') }}}}",
        f"lipsum.__globals__['os'].system('touch {marker}')",
    ]
    for attack in attacks:
        assert is_enabled([attack], {}, "dev") is True  # not evaluable: dbt decides
    assert not marker.exists()
