import pytest

from graphbuild.errors import QueryError, UnknownLabelError
from graphbuild.query import evaluate


@pytest.fixture
def graph(mini):
    with mini.session() as session:
        yield session.graph()


def q(graph, *words):
    return [str(label) for label in evaluate(graph, list(words)).labels]


def test_patterns_and_exclusions(graph):
    assert q(graph, "//kafka/...") == ["//kafka/topics:payments.v1"]
    assert "//dbt:stg_payments" not in q(graph, "//dbt/...", "-//dbt:stg_payments")
    assert q(graph, "//dbt:fct_payments") == ["//dbt:fct_payments"]


def test_kind(graph):
    assert q(graph, "kind(airflow_dag, //...)") == [
        "//dags/ops:housekeeping",
        "//dags/payments:merchants_weekly",
        "//dags/payments:payments_daily",
    ]
    assert q(graph, "kind('^dbt_(model|seed)$', //dbt/...)") == [
        "//dbt:currencies",
        "//dbt:dim_merchants",
        "//dbt:fct_payments",
        "//dbt:rpt_daily_volume",
        "//dbt:stg_merchants",
        "//dbt:stg_payments",
    ]


def test_rdeps_reaches_across_kinds(graph):
    found = q(graph, "rdeps(//..., //kafka/topics:payments.v1)")
    assert {
        "//spark/jobs/payments_clean:payments_clean",
        "//dbt:lake.payments_clean",
        "//dbt:stg_payments",
        "//dbt:fct_payments",
        "//dags/payments:payments_daily",
    } <= set(found)
    assert "//dags/payments:merchants_weekly" not in found
    assert q(graph, "rdeps(//kafka/topics:payments.v1, 1)") == [
        "//dags/payments:payments_daily",
        "//kafka/topics:payments.v1",
        "//spark/jobs/payments_clean:payments_clean",
    ]


def test_deps_depth_and_set_operators(graph):
    direct = q(graph, "deps(//dbt:fct_payments, 1)")
    assert direct == ["//dbt:currencies", "//dbt:dbt_project", "//dbt:fct_payments", "//dbt:stg_payments"]
    assert q(graph, "deps(//dbt:fct_payments) ^ kind(dbt_source, //...)") == ["//dbt:lake.payments_clean"]
    assert q(graph, "deps(//dbt:fct_payments, 1) - //dbt:dbt_project") == [
        "//dbt:currencies",
        "//dbt:fct_payments",
        "//dbt:stg_payments",
    ]


def test_somepath_and_owner(graph):
    path = evaluate(graph, ["somepath(//dags/payments:payments_daily, //kafka/topics:payments.v1)"])
    assert path.is_path
    assert [str(x) for x in path.labels] == ["//dags/payments:payments_daily", "//kafka/topics:payments.v1"]
    assert q(graph, "owner(dbt/models/marts/_marts.yml)") == ["//dbt:dim_merchants", "//dbt:fct_payments", "//dbt:rpt_daily_volume"]


@pytest.mark.parametrize(
    ("words", "error", "match"),
    [
        (["kindd(x, //...)"], QueryError, "did you mean kind"),
        (["deps(//dbt:fct_payments"], QueryError, "expected"),
        (["//dbt:fct_paymnts"], UnknownLabelError, "did you mean //dbt:fct_payments"),
        (["owner(dbt/nope.sql)"], QueryError, "no target owns"),
        (["kind(x)"], QueryError, "does not take 1 argument"),
    ],
)
def test_bad_queries(graph, words, error, match):
    with pytest.raises(error, match=match):
        evaluate(graph, words)
