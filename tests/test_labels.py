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


# '.' and '..' name no folder and no target: a label must never address a path outside its package (item 14)

DOT_LABELS = ["//a:.", "//a:..", "//..:x", "//.:x", "//a/../b:c", "//a/./b:c", "//a/..", "//..", "//.", "//a/b/..:x"]


@pytest.mark.parametrize("text", DOT_LABELS)
def test_dot_components_are_label_errors(text):
    with pytest.raises(LabelError, match="'.' and '..' are not package folders or target names"):
        Label.parse(text)


@pytest.mark.parametrize("text", ["//../...", "//a/../...", "//./...", "//..:all", "-//a/..:*"])
def test_dot_components_in_patterns_are_label_errors(text):
    with pytest.raises(LabelError):
        Pattern.parse(text)


@given(st.text(alphabet="ab./:", max_size=16).map(lambda s: "//" + s))
def test_no_label_addresses_a_path_outside_the_artifacts_folder(text):
    import posixpath

    try:
        label = Label.parse(text)
    except LabelError:
        return
    folder = posixpath.join("artifacts", label.package, label.name)  # as deploy backends and scratch folders join it
    assert posixpath.normpath(folder) == folder and folder.startswith("artifacts/")
    assert all(part not in (".", "..", "") for part in folder.split("/"))


def test_a_target_named_dot_dot_is_an_error_naming_its_build_file(tmp_path):
    from graphbuild.errors import GraphbuildError
    from graphbuild.rule import Registry
    from graphbuild.testing import FakeRule, GitWorkspace

    ws = GitWorkspace(tmp_path)
    ws.write({"jobs/x/BUILD": 'fake_target(name="ok")\nfake_target(name="..")\n', "jobs/x/a.txt": "a"})
    ws.commit()
    with ws.session(registry=Registry([FakeRule()]), use_cache=False) as session, pytest.raises(GraphbuildError) as error:
        session.graph()
    assert str(error.value).startswith("jobs/x/BUILD:2: cannot name a target '..'")
    assert "'.' and '..' are not package folders or target names" in str(error.value)
