"""Column-level change classification of dbt models, and the deploy steps the dbt rule plans."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphbuild.errors import DeployError
from graphbuild.plan.definition import Phase, Reversibility
from rules.deploy.dbt_classify import Reads, column_changes, frame_of, output_columns, reads_of, verdict
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
    assert _notes(specs, "rpt_daily_volume") == ("non-breaking: column retyped: volume (read by no downstream model)",)


def test_only_the_local_backend_exists(tmp_path: Path) -> None:
    workspace = dbt_workspace(tmp_path / "ws")
    with pytest.raises(DeployError, match="it has: local"):
        plan(workspace, None, backend="aws")
