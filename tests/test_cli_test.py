"""`graphbuild test` end to end on the fixture workspace spanning every kind, with the real tools."""

import json
import xml.etree.ElementTree as ET

import pytest

from graphbuild.cli import main

pytestmark = pytest.mark.slow


def run(capsys, ws, *args):
    code = main(["-C", str(ws.root), "--format", "json", "test", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_passes_replays_from_cache_and_reruns_only_what_a_change_affects(mini, capsys, tmp_path):
    code, first, _ = run(capsys, mini, "//...", "--junit", str(tmp_path / "junit.xml"))
    assert code == 0, [r for r in first["results"] if r["status"] == "failed"]
    names = {(r["target"], r["name"]) for r in first["results"]}
    assert {("//dbt:fct_payments", "dbt_build"), ("//dags/payments:payments_daily", "dagbag"),
            ("//kafka/topics:payments.v1", "avro-compat"), ("//terraform/modules/lake_bucket:lake_bucket", "static"),
            ("//dbt:fct_payments", "secrets")} <= names
    validate = [r for r in first["results"] if r["name"] == "validate"]
    assert validate and all(r["status"] == "skipped" and "providers" in r["summary"] for r in validate)
    assert ET.parse(tmp_path / "junit.xml").getroot().find("testsuite").get("tests") == str(first["actions"])

    code, second, _ = run(capsys, mini, "//...")
    assert code == 0 and second["cached"] == second["passed"] == first["passed"]
    assert second["time_saved_s"] > 0

    mini.edit("dbt/models/marts/fct_payments.sql", "    p.currency,\n", "    upper(p.currency) as currency,\n")
    code, third, _ = run(capsys, mini, "--since", "HEAD")
    assert code == 0
    ran = {r["target"] for r in third["results"] if not r["cached"]}
    assert ran == {"//dbt:fct_payments", "//dbt:rpt_daily_volume", "//dags/payments:payments_daily"}


def test_a_broken_model_fails_with_exit_1_and_names_the_file(mini, capsys):
    mini.edit("dbt/models/marts/_marts.yml", "data_type: decimal(18,2)", "data_type: varchar")
    code, result, err = run(capsys, mini, "//dbt/...", "--keep-going")
    assert code == 1
    failed = [r for r in result["results"] if r["status"] == "failed"]
    assert [r["target"] for r in failed] == ["//dbt:fct_payments"]
    assert "contract" in failed[0]["summary"] and "_marts.yml" in failed[0]["summary"]
