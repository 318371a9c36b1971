"""Column-level change classification of dbt models, and the deploy steps the dbt rule plans."""

from __future__ import annotations

import gc
import hashlib
import weakref
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphbuild.errors import DeployError
from graphbuild.plan.definition import Phase, Reversibility
from graphbuild.graph import Edge
from graphbuild.labels import Label
from graphbuild.rule import Origin
from rules.deploy.dbt_classify import Reads, classify, column_changes, frame_of, output_columns, reads_of, verdict
from rules.deploy.dbt_local import read_from_workspace
from rules.deploy.dbt_sql import cast_type, data_type
from tests.rules.deploy.test_dbt_local import FCT, RPT, STG, dbt_workspace, plan

names = st.sets(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), max_size=8)


def _columns(cols) -> dict:
    return {c: {"expression": c} for c in cols}


@given(names, names, names)
def test_adding_columns_is_never_breaking(kept, added, read) -> None:
    added = added - kept
    changes = column_changes(_columns(kept), _columns(kept | added))
    assert set(changes.added) == added and not changes.lost
    assert not verdict(changes, rows=None, reads=Reads(frozenset(read))).breaking


@given(names, names, names)
def test_dropping_a_column_that_is_read_is_always_breaking(kept, dropped, read) -> None:
    dropped = dropped - kept
    changes = column_changes(_columns(kept | dropped), _columns(kept))
    found = verdict(changes, rows=None, reads=Reads(frozenset(read)))
    assert found.breaking == bool(dropped & read)
    assert verdict(changes, rows=None, reads=Reads(None)).breaking == bool(dropped)


def test_renames_retypes_and_rows() -> None:
    changes = column_changes({"a": {"expression": "x AS a"}, "b": {"expression": "b"}},
                             {"c": {"expression": "x AS c"}, "b": {"expression": "CAST(b AS INT) AS b"}})
    assert changes.renamed == (("a", "c"),) and changes.retyped == ("b",)
    assert verdict(changes, rows=None, reads=Reads(frozenset({"a"}))).reason == "column renamed: a -> c"
    assert verdict(column_changes({}, {}), rows="rows may change", reads=Reads(frozenset())).breaking
    star = verdict(column_changes(_columns("a"), _columns("ab")), rows=None, reads=Reads(frozenset(), star=True))
    assert star.breaking and "select *" in star.reason


def test_sql_facts() -> None:
    text = """with src as (select * from {{ ref('up') }}), r as (select id, {{ money('amount_cents') }} as amount from src)
              select * from r where id > 0"""
    assert output_columns(text) == {"id": {"expression": "id"}, "amount": {"expression": output_columns(text)["amount"]["expression"]}}
    reads = reads_of(text, "__ref__up")
    assert {"id", "amount_cents"} <= reads.names and not reads.star  # the final * is over r's explicit columns
    assert reads_of("select * from {{ ref('up') }}", "__ref__up").star
    added = text.replace("as amount from", "as amount, fee from")
    assert frame_of(text, frozenset({"fee"})) == frame_of(added, frozenset({"fee"}))
    assert frame_of(text, frozenset({"fee"})) != frame_of(added.replace("id > 0", "id > 1"), frozenset({"fee"}))
    assert frame_of("select from from", frozenset()) is None


_SQLISH = st.text(st.sampled_from(list("select from as cast int ( ) * , ' \" ; : [ ] {{ }} {% %} - + /")), max_size=60)


@given(_SQLISH)
def test_unreadable_sql_gives_the_safe_answers_never_an_error(text) -> None:
    assert cast_type(text) is None or isinstance(cast_type(text), str)
    assert isinstance(data_type(text), str)
    columns = output_columns(text)
    assert columns is None or isinstance(columns, dict)
    reads = reads_of(text, "__ref__up")
    assert reads.names is None or isinstance(reads.names, frozenset)
    frame_of(text, frozenset())


def test_sql_nested_too_deep_reads_as_unreadable() -> None:
    deep = "(" * 5000 + "1" + ")" * 5000
    assert output_columns(f"select {deep} as a") is None and cast_type(f"cast({deep} as int)") is None
    assert reads_of(f"select {deep} as a from {{{{ ref('up') }}}}", "__ref__up") == Reads(None, True)


def _notes(specs, label: str) -> tuple[str, ...]:
    return specs[f"//dbt:{label}"][0].notes


def test_plan_steps_of_a_first_deploy(tmp_path: Path) -> None:
    workspace = dbt_workspace(tmp_path / "ws")
    specs, head = plan(workspace, None)
    spec, fingerprint = specs["//dbt:fct_payments"]
    assert spec.phase is Phase.TRANSFORMATIONS and spec.reversibility is Reversibility.POINTER
    assert spec.request["materialized"] == "incremental" and spec.request["resource_type"] == "model"
    assert spec.request["physical_schema"] == f"gb__fct_payments__{fingerprint[:12]}"
    assert spec.request["backfill"] == {"start": "earliest", "end": "2026-11-26"}
    assert spec.notes == ("new model", "backfill earliest..2026-11-26")
    assert specs["//dbt:stg_payments"][0].request["materialized"] == "view"
    assert specs["//dbt:currencies"][0].request["resource_type"] == "seed"
    assert {"dbt/dbt_project.yml", "dbt/profiles.yml", "dbt/sample_data/lake/payments_clean.csv",
            "dbt/macros/money.sql", "dbt/seeds/currencies.csv", STG} <= set(spec.files)
    assert not any(label.startswith("//dbt:lake.") or label.startswith("//dbt:macros.") for label in specs)
    assert "//dbt:dbt_project" not in specs


def test_a_non_breaking_change_is_reused_downstream(tmp_path: Path) -> None:
    workspace = dbt_workspace(tmp_path / "ws")
    base, _ = plan(workspace, None)
    workspace.edit(STG, "    created_at\n", "    created_at,\n    amount_cents as fee_cents\n").commit()
    specs, _ = plan(workspace, "HEAD~1", {"backfill_start": "2024-01-01", "backfill_end": "2026-11-26"})
    assert _notes(specs, "stg_payments") == ("non-breaking: column added: fee_cents",)
    fct = specs["//dbt:fct_payments"][0]
    assert fct.request["reuse"] == base["//dbt:fct_payments"][1] and "backfill" not in fct.request
    assert fct.notes[0].startswith("reuses the previous version: upstream change is non-breaking for it")
    assert fct.estimate_s < 1
    assert specs["//dbt:rpt_daily_volume"][0].request["category"] == "reuse"
    assert specs["//dbt:dim_merchants"][0].request["category"] == "unchanged"


def test_dropping_a_read_column_rebuilds_readers_with_a_backfill(tmp_path: Path) -> None:
    workspace = dbt_workspace(tmp_path / "ws")
    workspace.edit(STG, "    currency,\n", "").commit()
    specs, _ = plan(workspace, "HEAD~1", {"backfill_start": "2024-01-01", "backfill_end": "2026-11-26"})
    assert _notes(specs, "stg_payments") == ("breaking: column dropped: currency (read by fct_payments)",)
    fct = specs["//dbt:fct_payments"][0]
    assert fct.notes == ("rebuilt: breaking upstream change: column dropped: currency in stg_payments", "backfill 2024-01-01..2026-11-26")
    assert fct.request["backfill"] == {"start": "2024-01-01", "end": "2026-11-26"} and "reuse" not in fct.request


def test_dropping_an_unread_column_and_changing_rows(tmp_path: Path) -> None:
    workspace = dbt_workspace(tmp_path / "ws")
    workspace.edit(FCT, "    c.minor_units,\n", "").commit()
    specs, _ = plan(workspace, "HEAD~1")
    assert _notes(specs, "fct_payments")[0] == "non-breaking: column dropped: minor_units (read by no downstream model)"
    assert specs["//dbt:rpt_daily_volume"][0].request["category"] == "reuse"
    workspace.edit(FCT, "left join", "inner join").commit()
    specs, _ = plan(workspace, "HEAD~1")
    assert _notes(specs, "fct_payments")[0] == "breaking: rows may change (filter, join or grain changed) (read by rpt_daily_volume)"
    assert specs["//dbt:rpt_daily_volume"][0].request["category"] == "indirect"
    workspace.edit(RPT, "sum(amount)", "sum(amount) * 2").commit()
    specs, _ = plan(workspace, "HEAD~1")
    assert _notes(specs, "rpt_daily_volume") == ("non-breaking: column expression changed: volume (read by no downstream model)",)


def test_only_the_local_backend_exists(tmp_path: Path) -> None:
    workspace = dbt_workspace(tmp_path / "ws")
    with pytest.raises(DeployError, match="it has: local"):
        plan(workspace, None, backend="aws")


# --- check-only edges (a singular test that refs two models) and expression changes


def test_a_singular_test_reading_a_model_and_its_reader_does_not_crash_the_plan(tmp_path: Path) -> None:
    # the test is attached to both models: fct_payments -check-> rpt_daily_volume -data-> fct_payments
    workspace = dbt_workspace(tmp_path / "ws")
    workspace.write({"dbt/tests/assert_volume_ties.sql": (
        "select day from {{ ref('rpt_daily_volume') }}\n"
        "where volume > (select sum(abs(amount)) from {{ ref('fct_payments') }})\n"
    )}).commit("singular test")
    workspace.edit(STG, "    created_at\n", "    created_at,\n    amount_cents as fee_cents\n").commit()
    specs, _ = plan(workspace, "HEAD~1")  # RecursionError before the classifier followed data edges only
    assert _notes(specs, "stg_payments") == ("non-breaking: column added: fee_cents",)
    for name in ("fct_payments", "rpt_daily_volume"):
        assert specs[f"//dbt:{name}"][0].request["category"] == "reuse", _notes(specs, name)


def test_a_model_only_a_test_reads_is_not_a_reader_and_rebuilds_nothing(tmp_path: Path) -> None:
    workspace = dbt_workspace(tmp_path / "ws")
    workspace.write({"dbt/tests/assert_known_merchants.sql": (
        "select p.payment_id from {{ ref('fct_payments') }} p\n"
        "left join {{ ref('stg_merchants') }} m using (merchant_id) where m.merchant_id is null\n"
    )}).commit("singular test")
    workspace.edit("dbt/models/staging/stg_merchants.sql", "{{ source('lake', 'merchants') }}",
                   "{{ source('lake', 'merchants') }} where country is not null").commit()
    specs, _ = plan(workspace, "HEAD~1")
    assert _notes(specs, "stg_merchants") == ("breaking: rows may change (filter, join or grain changed) (read by dim_merchants)",)
    assert specs["//dbt:dim_merchants"][0].request["category"] == "indirect"
    fct = specs["//dbt:fct_payments"][0]  # its fingerprint changed (its test re-runs), its data did not
    assert fct.request["category"] == "reuse" and "backfill" not in fct.request
    assert fct.notes == ("reuses the previous version: only its tests read stg_merchants (check-only), its data does not",)
    assert specs["//dbt:rpt_daily_volume"][0].request["category"] == "unchanged"


def test_an_expression_change_is_not_a_retype_and_breaks_its_readers(tmp_path: Path) -> None:
    workspace = dbt_workspace(tmp_path / "ws")
    workspace.edit(STG, "    currency,\n", "    upper(currency) as currency,\n").commit()
    specs, _ = plan(workspace, "HEAD~1")
    assert _notes(specs, "stg_payments") == (
        "breaking: column expression changed: currency (read by fct_payments: its values change)",
    )
    assert _notes(specs, "fct_payments")[0] == (
        "rebuilt: breaking upstream change: column expression changed: currency (its values change) in stg_payments"
    )
    workspace.edit(STG, "    upper(currency) as currency,\n", "    cast(upper(currency) as varchar(3)) as currency,\n").commit()
    specs, _ = plan(workspace, "HEAD~1")
    assert _notes(specs, "stg_payments") == ("breaking: column retyped: currency (read by fct_payments)",)


def test_expression_type_and_constraint_changes_are_told_apart() -> None:
    base = {"a": {"expression": "x AS a"}, "b": {"expression": "b", "data_type": "int"}, "c": {"expression": "c"}}
    head = {"a": {"expression": "x + 1 AS a"}, "b": {"expression": "b", "data_type": "bigint"},
            "c": {"expression": "c", "constraints": "not_null"}}
    changes = column_changes(base, head)
    assert (changes.reexpressed, changes.retyped, changes.constrained) == (("a",), ("b",), ("c",))
    assert changes.describe() == ["column retyped: b", "column expression changed: a", "column constraints changed: c"]
    assert verdict(changes, rows=None, reads=Reads(frozenset({"a"}))).reason == "column expression changed: a (its values change)"
    assert not verdict(changes, rows=None, reads=Reads(frozenset({"c"}))).breaking


def test_a_yaml_type_and_a_cast_naming_the_same_type_is_not_a_retype() -> None:
    cast = {"b": {"expression": "CAST(b AS INT) AS b"}}
    for spelled in ("integer", "INTEGER", "int4", "int"):
        changes = column_changes(cast, {"b": {"expression": "CAST(b AS INT) AS b", "data_type": spelled}})
        assert changes.retyped == () and not changes.lost, spelled
    declared = {"b": {"expression": "b", "data_type": "Double  Precision"}}
    assert column_changes(declared, {"b": {"expression": "b", "data_type": "float8"}}).retyped == ()
    assert column_changes(cast, {"b": {"expression": "b", "data_type": "bigint"}}).retyped == ("b",)


def test_declaring_the_type_a_cast_already_gives_rebuilds_no_reader(tmp_path: Path) -> None:
    workspace = dbt_workspace(tmp_path / "ws")
    workspace.edit(STG, "    payment_id,\n", "    cast(payment_id as int) as payment_id,\n").commit()
    yml = "dbt/models/staging/_staging.yml"
    workspace.edit(yml, "data_tests: [unique, not_null]\n", "data_tests: [unique, not_null]\n        data_type: integer\n").commit()
    specs, _ = plan(workspace, "HEAD~1")
    assert not any("retyped" in note for note in _notes(specs, "stg_payments")), _notes(specs, "stg_payments")
    assert specs["//dbt:fct_payments"][0].request["category"] == "reuse", _notes(specs, "fct_payments")


def test_two_plans_in_one_process_share_no_classification(tmp_path: Path) -> None:
    workspace = dbt_workspace(tmp_path / "ws")
    workspace.edit(STG, "    currency,\n", "").commit()
    with workspace.session(use_cache=False) as session:
        head, base = session.fingerprinted(), session.fingerprinted("HEAD~1")
        reads: list[str] = []

        def read(revision, path, blob):
            reads.append(path)
            return read_from_workspace(revision, path, blob)

        label = Label("dbt", "fct_payments")
        first, second = {}, {}  # two plans' memos, over the very same revisions
        assert classify(label, head, base, variables={}, read=read, memo=first).category == "indirect"
        once = len(reads)
        assert once and classify(label, head, base, variables={}, read=read, memo=first).category == "indirect"
        assert len(reads) == once  # within one plan: classified once
        assert classify(label, head, base, variables={}, read=read, memo=second).category == "indirect"
        assert len(reads) == 2 * once  # the second plan read the sources again: nothing carried over
        classify(label, head, base, variables={}, read=read)
        assert len(reads) == 3 * once  # no memo: nothing kept between calls either


def test_a_classification_keeps_no_revision_alive_after_its_plan() -> None:
    class Revision(SimpleNamespace):  # SimpleNamespace itself cannot be weakly referenced
        pass

    base, labels = _revision(3, {1: {0}, 2: {1}}, {}, set(), head=False)
    head = _revision(3, {1: {0}, 2: {1}}, {}, {0}, head=True)[0]
    base, head = Revision(**vars(base)), Revision(**vars(head))
    memo: dict = {}
    assert classify(labels[2], head, base, variables={}, read=None, memo=memo).category == "indirect"
    assert classify(labels[1], head, base, variables={}, read=None).category == "indirect"
    refs = [weakref.ref(head), weakref.ref(base)]
    del head, base, memo
    gc.collect()
    assert [ref() for ref in refs] == [None, None]


# --- the classifier on generated graphs: plain revisions (states, edges), no SQL to read


def _revision(n: int, data: dict[int, set[int]], checks: dict[int, set[int]], own: set[int], *, head: bool):
    """Model ``i`` reads the models in ``data[i]`` and its tests read ``checks[i]``; ``own`` changed at head.

    Fingerprints as graphbuild computes them: the interface inherits data upstreams' interfaces, the
    data fingerprint adds the check-only upstreams' interfaces.
    """
    labels = [Label("m", f"m{i}") for i in range(n)]
    deps = {labels[i]: tuple(sorted(
        [Edge(labels[i], labels[j], Origin("m/BUILD")) for j in data.get(i, ())]
        + [Edge(labels[i], labels[j], Origin("m/t.sql"), True) for j in checks.get(i, ()) if j not in data.get(i, ())],
        key=lambda e: e.target)) for i in range(n)}
    rdeps: dict[Label, list[Label]] = {label: [] for label in labels}
    for source, edges in deps.items():
        for edge in edges:
            rdeps[edge.target].append(source)
    interface: dict[int, str] = {}
    for i in range(n):  # data upstreams have lower numbers
        mine = f"v{int(head and i in own)}"
        interface[i] = hashlib.sha256("|".join([mine, *(interface[j] for j in sorted(data.get(i, ())))]).encode()).hexdigest()
    states = {}
    for i, label in enumerate(labels):
        checked = [interface[j] for j in sorted(checks.get(i, ()))]
        fingerprint = hashlib.sha256("|".join([interface[i], *checked]).encode()).hexdigest()
        body = f"select {i} -- {int(head and i in own)}"
        states[label] = SimpleNamespace(
            target=SimpleNamespace(kind="dbt_model", attributes={"root": "m", "path": f"models/m{i}.sql"}),
            digest=SimpleNamespace(data={"SQL body": body}, private={}),
            own=body, blobs={}, fingerprint=SimpleNamespace(data=fingerprint),
        )
    return SimpleNamespace(states=states, graph=SimpleNamespace(deps=deps, rdeps=rdeps)), labels


def test_a_chain_of_5000_models_classifies_without_recursion() -> None:
    n = 5000
    data = {i: {i - 1} for i in range(1, n)}
    checks = {0: {n - 1}}  # a test of the first model reads the last one: a cycle through a check-only edge
    base, labels = _revision(n, data, checks, set(), head=False)
    head, _ = _revision(n, data, checks, {0}, head=True)
    memo: dict = {}  # one plan's
    found = classify(labels[-1], head, base, variables={}, read=None, memo=memo)
    assert found.category == "indirect" and found.rebuild  # unreadable SQL: the safe answer, breaking
    assert classify(labels[0], head, base, variables={}, read=None, memo=memo).category == "breaking"
    # a plan classifies every model of one revision pair: each once, not its whole upstream chain again
    assert {classify(label, head, base, variables={}, read=None, memo=memo).category for label in labels[1:]} == {"indirect"}


@st.composite
def _graphs(draw):
    n = draw(st.integers(2, 12))
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
    data: dict[int, set[int]] = {}
    for a, b in draw(st.lists(pairs, max_size=3 * n)):
        if a != b:
            data.setdefault(max(a, b), set()).add(min(a, b))
    checks: dict[int, set[int]] = {}
    for a, b in draw(st.lists(pairs, max_size=2 * n)):
        if a != b:
            checks.setdefault(a, set()).add(b)
    return n, data, checks, draw(st.sets(st.integers(0, n - 1), max_size=3))


@given(_graphs())
def test_check_only_edges_never_decide_what_is_rebuilt(graph) -> None:
    n, data, checks, own = graph
    with_checks = [_revision(n, data, checks, own, head=h)[0] for h in (False, True)]
    without = [_revision(n, data, {}, own, head=h)[0] for h in (False, True)]
    _, labels = _revision(n, data, {}, own, head=False)
    for label in labels:
        found = classify(label, with_checks[1], with_checks[0], variables={}, read=None)
        plain = classify(label, without[1], without[0], variables={}, read=None)
        assert found.rebuild == plain.rebuild, (label, found, plain)
        assert found.category == plain.category or (plain.category, found.category) == ("unchanged", "reuse")
