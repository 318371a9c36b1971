import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphbuild.errors import LabelError, UnknownLabelError
from graphbuild.labels import Label, Pattern, PatternSet, select

LABELS = [Label.parse(t) for t in ("//dbt:fct_payments", "//dbt:stg_payments", "//dags/ingestion:ingest_fx", "//kafka/topics:fx.rates.v1")]


def test_parse_forms():
    assert Label.parse("//dbt:fct_payments") == Label("dbt", "fct_payments")
    assert Label.parse("//terraform/modules/kms") == Label("terraform/modules/kms", "kms")
    assert Label.parse(":x", relative_to="dags/ops") == Label("dags/ops", "x")
    assert str(Label.parse("//kafka/topics:fx.rates.v1")) == "//kafka/topics:fx.rates.v1"


@pytest.mark.parametrize("text", ["dbt:x", "//dbt:", "//a b:c", "//dbt:x:y", ":x", "//..."])
def test_malformed_labels_are_label_errors(text):
    with pytest.raises(LabelError):
        Label.parse(text)


def test_patterns_select_and_exclude():
    assert select(["//..."], LABELS) == tuple(sorted(LABELS))
    assert select(["//dbt/...", "-//dbt:stg_payments"], LABELS) == (Label("dbt", "fct_payments"),)
    assert select(["//dbt:all"], LABELS) == (Label("dbt", "fct_payments"), Label("dbt", "stg_payments"))
    assert Pattern.parse("//dags/...").matches(Label("dags/ingestion", "x"))
    assert not Pattern.parse("//dag/...").matches(Label("dags/ingestion", "x"))


def test_unknown_label_suggests_the_closest():
    with pytest.raises(UnknownLabelError) as info:
        select(["//dbt:fct_payment"], LABELS)
    assert "did you mean //dbt:fct_payments" in str(info.value)


def test_pattern_matching_nothing_is_an_error():
    with pytest.raises(UnknownLabelError, match="matches no target"):
        select(["//spark/..."], LABELS)


names = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,20}", fullmatch=True).filter(lambda s: s != "...")
packages = st.lists(names, min_size=0, max_size=4).map("/".join)


@given(packages, names)
def test_label_round_trips(package, name):
    label = Label(package, name)
    assert Label.parse(str(label)) == label
    assert Pattern.parse(str(label)).matches(label)
    assert Pattern.parse("//...").matches(label)


@given(st.text(max_size=60))
def test_arbitrary_text_parses_or_raises_label_error(text):
    try:
        Label.parse(text)
    except LabelError:
        pass


def test_patternset_parse_keeps_order():
    ps = PatternSet.parse(["//...", "-//dbt/..."])
    assert [p.is_exclusion for p in ps.patterns] == [False, True]
