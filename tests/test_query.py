import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphbuild.errors import GraphbuildError, QueryError, UnknownLabelError
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


@pytest.mark.parametrize(
    "text",
    ["deps(" * 2000 + "//dbt:fct_payments" + ")" * 2000, "(" * 5000 + "//dbt:fct_payments" + ")" * 5000,
     "kind(dbt, " * 300 + "//..." + ")" * 300],
)
def test_deeply_nested_queries_fail_with_the_limit_not_a_recursion_error(graph, text):
    with pytest.raises(QueryError) as caught:
        evaluate(graph, [text])
    assert "more than 100 levels deep" in str(caught.value)


def test_nesting_up_to_the_limit_still_evaluates(graph):
    assert q(graph, "deps(" * 99 + "//dbt:fct_payments" + ")" * 99) == q(graph, "deps(//dbt:fct_payments)")
    assert q(graph, "(" * 99 + "//dbt:fct_payments" + ")" * 99) == ["//dbt:fct_payments"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.sampled_from(["deps(", "rdeps(", "kind(", "(", ")", ",", " + ", " - ", "//...", "//dbt:fct_payments",
                              "dbt", "1", "'x'", "somepath("]), max_size=400)
)
def test_random_queries_fail_only_with_graphbuild_errors(graph, parts):
    try:
        evaluate(graph, ["".join(parts) or "//..."])
    except GraphbuildError:
        pass


def test_why_prefers_data_paths_and_names_a_check_only_edge():
    from graphbuild.changes import compare
    from graphbuild.labels import Label
    from tests.test_graph import _probe_graph

    base, head = _probe_graph(), _probe_graph(" beta")
    changes = compare(base, head)
    a, b, t, u = (Label(x, x) for x in "abtu")
    assert set(changes.affected) == {a, b, t, u}
    assert changes.reasons[t].path == (t, b, a) and changes.reasons[t].check_only == ()
    assert changes.reasons[t].text() == "depends on a changed target: //t:t -> //b:b -> //a:a"
    why = changes.reasons[u]  # u's data reads nothing that changed: only its tests do
    assert why.path == (u, a) and why.check_only == ((u, a),)
    assert why.text() == (
        "depends on a changed target: //u:u -> //a:a (via check-only edge //u:u -> //a:a: its tests read //a:a, its data does not)"
    )
    assert why.to_dict()["check_only"] == [["//u:u", "//a:a"]]
