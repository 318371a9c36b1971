"""The dbt monitor's measurements on a real DuckDB: profiles, thresholds (hypothesis), what a view reads."""

from __future__ import annotations

import duckdb
from hypothesis import given
from hypothesis import strategies as st

from rules.deploy.dbt_health import _freshness, _null_rate, _reads, _row_count, profile


def test_profile_counts_rows_nulls_and_the_newest_timestamp():
    db = duckdb.connect()
    db.execute("create table t as select * from (values (1, null, timestamp '2026-01-01 10:00:00'), "
               "(2, 'x', timestamp '2026-02-01 00:00:00'), (3, null, null), (4, 'y', null)) v(id, name, seen_at)")
    found = profile(db, "t")
    assert found["rows"] == 4 and found["null_rates"] == {"id": 0.0, "name": 0.5, "seen_at": 0.5}
    assert found["newest"].isoformat() == "2026-02-01T00:00:00" and found["has_time"]
    assert profile(db, "no_such_relation") is None
    empty = profile(db, "(select * from t where false)")
    assert empty["rows"] == 0 and empty["null_rates"]["name"] == 0.0 and empty["newest"] is None


@given(st.integers(0, 10_000), st.integers(1, 10_000), st.floats(0, 1))
def test_row_count_fails_exactly_when_the_drop_exceeds_the_limit(rows, was, limit):
    check = _row_count("//dbt:m", {"rows": rows}, {"rows": was}, limit)
    assert (check.status == "failed") == ((was - rows) / was > limit)
    assert check.metrics["row_count"] == rows and check.metrics["row_count_drop"] >= 0


@given(st.dictionaries(st.sampled_from("abcd"), st.floats(0, 1), min_size=1), st.floats(0, 1), st.floats(0, 1))
def test_null_rate_fails_exactly_when_a_column_rises_beyond_the_limit(before, rise, limit):
    now = {c: min(1.0, r + rise) if c == min(before) else r for c, r in before.items()}
    check = _null_rate("//dbt:m", {"null_rates": now}, {"null_rates": before}, limit)
    assert (check.status == "failed") == any(now[c] - before[c] > limit for c in now)


def test_a_first_version_is_measured_not_compared():
    assert _row_count("//dbt:m", {"rows": 0}, None, 0.2).status == "passed"
    assert _null_rate("//dbt:m", {"null_rates": {"a": 1.0}}, None, 0.05).status == "passed"


def test_freshness_without_a_limit_or_a_time_column_is_skipped_never_passed():
    import datetime

    old = {"has_time": True, "newest": datetime.datetime(2000, 1, 1)}
    assert _freshness("//dbt:m", old, None).status == "skipped"
    assert _freshness("//dbt:m", {"has_time": False, "newest": None}, 24).status == "skipped"
    assert _freshness("//dbt:m", old, 24).status == "failed"
    fresh = {"has_time": True, "newest": datetime.datetime.now(datetime.UTC).replace(tzinfo=None)}
    assert _freshness("//dbt:m", fresh, 24).status == "passed"


def test_what_a_view_reads_from_duckdbs_stored_definition():
    db = duckdb.connect()
    db.execute('create schema "gb__m__abc"; create table "gb__m__abc".m as select 1 a; create schema analytics')
    db.execute('create view analytics.m as select * from "gb__m__abc"."m"')
    sql = db.execute("select sql from duckdb_views() where view_name = 'm'").fetchone()[0]
    assert _reads(sql) == "gb__m__abc.m"
    db.execute("create or replace view analytics.m as select a + 1 as a from gb__m__abc.m")
    sql = db.execute("select sql from duckdb_views() where view_name = 'm'").fetchone()[0]
    assert _reads(sql) != "gb__m__abc.m"
