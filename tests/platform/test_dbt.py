"""The FinSight dbt project builds for real on its DuckDB dev target.

One `dbt build` of a copy of dbt/ (so parallel runs never collide and no artifact lands in the repository)
runs every seed, model, data test and unit test against the sample lake data; the tests below then read the
run results, the manifest and the built DuckDB file. The expected figures are computed independently from
the sample CSVs with the standard library, not with SQL.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml
from dbt.clients.jinja import get_rendered

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt"
SAMPLE_DIR = DBT_DIR / "sample_data" / "lake"

STAGING = {
    "stg_payments", "stg_card_authorizations", "stg_card_fraud_scores", "stg_transfers", "stg_ledger_entries",
    "stg_kyc_events", "stg_fx_rates", "stg_accounts", "stg_merchants", "stg_chargebacks", "stg_aml_features",
    "stg_settlements", "stg_customer_features",
}
INTERMEDIATE = {
    "int_payments_enriched", "int_payments_fx_converted", "int_card_auth_outcomes", "int_transfers_enriched",
    "int_ledger_balances_daily", "int_kyc_status_latest", "int_account_risk_inputs", "int_merchant_daily_volume",
    "int_chargeback_rates", "int_settlement_matching", "int_fraud_case_candidates", "int_customer_activity",
}
MARTS = {
    "fct_payments", "fct_card_authorizations", "fct_transfers", "fct_ledger_entries", "fct_settlements",
    "fct_chargebacks", "fct_fraud_alerts", "dim_accounts", "dim_merchants", "dim_customers", "dim_currencies",
    "rpt_daily_revenue", "rpt_regulatory_aml", "rpt_reconciliation_breaks", "rpt_customer_risk_scores",
}
LAKE_TABLES = {
    "payments_clean", "card_authorizations_raw", "card_fraud_scores", "transfers", "ledger_entries", "kyc_events",
    "fx_rates_daily", "accounts_snapshot", "merchants", "chargebacks", "aml_features", "settlements",
    "customer_features",
}
MARTS_SCHEMA = "analytics_marts"


def _dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    if found is None:
        pytest.fail("dbt is not installed next to the test interpreter nor on PATH")
    return found


def _run_dbt(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "GRAPHBUILD_DUCKDB_PATH": str(project / "target" / "finsight.duckdb"),
    }
    return subprocess.run(
        [_dbt_executable(), *args, "--profiles-dir", ".", "--project-dir", ".", "--target", "dev",
         "--no-send-anonymous-usage-stats", "--no-use-colors"],
        cwd=project,  # the sample-data paths of the sources are relative to the project directory
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of dbt/ on which `dbt build` has run once."""
    copy = tmp_path_factory.mktemp("dbt") / "finsight"
    shutil.copytree(
        DBT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb*", ".user.yml")
    )
    result = _run_dbt(copy, "build")
    if result.returncode != 0:
        pytest.fail(f"dbt build failed ({result.returncode}):\n{result.stdout[-8000:]}\n{result.stderr[-4000:]}")
    # Later dbt invocations overwrite target/run_results.json: keep the build's own.
    shutil.copy(copy / "target" / "run_results.json", copy / "build_run_results.json")
    return copy


@pytest.fixture(scope="module")
def run_results(project: Path) -> dict:
    return json.loads((project / "build_run_results.json").read_text())


@pytest.fixture(scope="module")
def manifest(project: Path) -> dict:
    return json.loads((project / "target" / "manifest.json").read_text())


@pytest.fixture
def warehouse(project: Path):
    """A read-only connection, closed after each test: DuckDB lets no other process write while it is open."""
    connection = duckdb.connect(str(project / "target" / "finsight.duckdb"), read_only=True)
    yield connection
    connection.close()


def _csv_rows(table: str) -> list[dict[str, str]]:
    with (SAMPLE_DIR / f"{table}.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _models(manifest: dict) -> dict[str, dict]:
    return {node["name"]: node for node in manifest["nodes"].values() if node["resource_type"] == "model"}


# --- the build ------------------------------------------------------------------------------------------------

def test_build_runs_every_node_and_all_pass(run_results: dict, manifest: dict) -> None:
    failed = [(r["unique_id"], r["status"]) for r in run_results["results"] if r["status"] not in ("success", "pass")]
    assert failed == []

    ran = Counter(r["unique_id"].split(".", 1)[0] for r in run_results["results"])
    declared = Counter(node["resource_type"] for node in manifest["nodes"].values())
    declared["unit_test"] = len(manifest["unit_tests"])
    assert ran["model"] == 40
    assert ran["seed"] == declared["seed"] == 5
    assert ran["test"] == declared["test"] >= 200  # generic, source and singular data tests
    assert ran["unit_test"] == declared["unit_test"] >= 6


def test_unit_tests_cover_the_models_with_logic(manifest: dict) -> None:
    tested = {test["model"] for test in manifest["unit_tests"].values()}
    assert {
        "int_payments_fx_converted", "int_card_auth_outcomes", "int_ledger_balances_daily", "int_kyc_status_latest",
        "int_settlement_matching", "int_chargeback_rates", "int_fraud_case_candidates", "rpt_customer_risk_scores",
        "fct_payments",
    } <= tested


def test_singular_tests_reference_models(manifest: dict) -> None:
    singular = [
        node for node in manifest["nodes"].values()
        if node["resource_type"] == "test" and node["original_file_path"].startswith("tests/")
    ]
    assert len(singular) >= 3
    for test in singular:
        assert any(dep.startswith("model.finsight.") for dep in test["depends_on"]["nodes"]), test["name"]


# --- the project's shape ---------------------------------------------------------------------------------------

def test_exactly_the_forty_models_in_their_layers(manifest: dict) -> None:
    models = _models(manifest)
    assert set(models) == STAGING | INTERMEDIATE | MARTS
    for name, node in models.items():
        layer = "staging" if name in STAGING else "intermediate" if name in INTERMEDIATE else "marts"
        path = Path(node["original_file_path"])
        assert path.parts[:2] == ("models", layer) and len(path.parts) == 4 and path.name == f"{name}.sql", path
        assert node["description"], name


def test_staging_reads_lake_sources_and_upper_layers_only_ref(manifest: dict) -> None:
    models = _models(manifest)
    lake = {s["name"] for s in manifest["sources"].values() if s["source_name"] == "lake"}
    assert lake == LAKE_TABLES
    read_by_staging = set()
    for name, node in models.items():
        sources = [d for d in node["depends_on"]["nodes"] if d.startswith("source.")]
        if name in STAGING:
            assert len(sources) == 1 and sources[0].startswith("source.finsight.lake."), name
            read_by_staging.add(sources[0].rsplit(".", 1)[1])
        else:
            assert sources == [], name
    assert read_by_staging == LAKE_TABLES
    for table in LAKE_TABLES:
        assert (SAMPLE_DIR / f"{table}.csv").is_file(), table


def test_every_mart_has_an_enforced_contract_with_typed_columns(manifest: dict) -> None:
    for name, node in _models(manifest).items():
        if name not in MARTS:
            continue
        assert node["config"]["contract"]["enforced"] is True, name
        assert node["columns"], name
        assert all(column["data_type"] for column in node["columns"].values()), name


def test_incremental_models_have_a_unique_key(manifest: dict) -> None:
    incremental = {
        name: node["config"]["unique_key"]
        for name, node in _models(manifest).items()
        if node["config"]["materialized"] == "incremental"
    }
    assert len(incremental) >= 2
    assert all(incremental.values()), incremental
    assert {"fct_payments", "fct_ledger_entries"} <= set(incremental)


def test_profiles_default_to_duckdb_and_name_snowflake_through_env_vars() -> None:
    profile = yaml.safe_load((DBT_DIR / "profiles.yml").read_text())["finsight"]
    assert profile["target"] == "dev"
    assert profile["outputs"]["dev"]["type"] == "duckdb"
    default_path = re.search(r"env_var\('GRAPHBUILD_DUCKDB_PATH', '([^']+)'\)", profile["outputs"]["dev"]["path"])
    assert default_path is not None and not Path(default_path.group(1)).is_absolute()
    for env in ("staging", "prod"):
        output = profile["outputs"][env]
        assert output["type"] == "snowflake"
        for key in ("account", "user", "role", "warehouse", "database"):
            assert "env_var(" in output[key], (env, key)


def test_sample_data_locations_apply_to_duckdb_only() -> None:
    """The lake source reads the sample CSVs on DuckDB; on Snowflake it is the LAKE schema's external tables."""
    source = yaml.safe_load((DBT_DIR / "models" / "staging" / "_sources.yml").read_text())["sources"][0]
    meta = source["config"]["meta"]
    assert get_rendered(meta, {"target": {"type": "snowflake"}}, native=True) == {}
    on_duckdb = get_rendered(meta, {"target": {"type": "duckdb"}}, native=True)
    assert "sample_data/lake/{name}.csv" in on_duckdb["external_location"]


# --- the data --------------------------------------------------------------------------------------------------

def test_fct_payments_keeps_every_payment_and_its_amounts(warehouse) -> None:
    payments = _csv_rows("payments_clean")
    expected = defaultdict(Decimal)
    for row in payments:
        expected[row["currency"]] += Decimal(row["amount_minor"]) / 100
    built = dict(
        warehouse.execute(f"select currency_code, sum(amount) from {MARTS_SCHEMA}.fct_payments group by 1").fetchall()
    )
    assert warehouse.execute(f"select count(*) from {MARTS_SCHEMA}.fct_payments").fetchone()[0] == len(payments)
    assert built == dict(expected)
    usd = warehouse.execute(
        f"select sum(amount), sum(amount_usd) from {MARTS_SCHEMA}.fct_payments where currency_code = 'USD'"
    ).fetchone()
    assert usd[0] == usd[1]


def test_stream_redeliveries_are_counted_once(warehouse) -> None:
    raw = _csv_rows("card_authorizations_raw")
    distinct = {row["authorization_id"] for row in raw}
    assert len(raw) > len(distinct)
    built = warehouse.execute(f"select count(*) from {MARTS_SCHEMA}.fct_card_authorizations").fetchone()[0]
    assert built == len(distinct)


def test_reconciliation_breaks_are_exactly_the_mismatches_in_the_sample_data(warehouse) -> None:
    payments = {row["payment_id"]: row for row in _csv_rows("payments_clean")}
    lines = sorted(_csv_rows("settlements"), key=lambda r: (r["settled_at"], r["settlement_id"]))
    expected, seen = set(), set()
    for line in lines:
        payment = payments.get(line["payment_id"])
        if payment is None:
            expected.add(("orphan_settlement", line["payment_id"]))
        elif line["payment_id"] in seen:
            expected.add(("duplicate_settlement", line["payment_id"]))
        elif line["gross_amount_minor"] != payment["amount_minor"]:
            expected.add(("amount_mismatch", line["payment_id"]))
        seen.add(line["payment_id"])
    for payment_id, payment in payments.items():
        if payment["status"] in ("settled", "refunded") and payment_id not in seen:
            expected.add(("missing_settlement", payment_id))

    built = set(warehouse.execute(f"select break_type, payment_id from {MARTS_SCHEMA}.rpt_reconciliation_breaks").fetchall())
    assert {kind for kind, _ in expected} == {
        "orphan_settlement", "duplicate_settlement", "amount_mismatch", "missing_settlement"
    }
    assert built == expected


def test_account_balances_equal_the_deposits_sub_ledger(warehouse) -> None:
    expected = defaultdict(Decimal)
    for entry in _csv_rows("ledger_entries"):
        if entry["gl_account_code"] == "2010":
            amount = Decimal(entry["amount_minor"]) / 100
            expected[entry["account_id"]] += amount if entry["direction"] == "C" else -amount
    built = dict(warehouse.execute(f"select account_id, current_balance from {MARTS_SCHEMA}.dim_accounts").fetchall())
    assert {account: balance for account, balance in built.items() if account in expected} == dict(expected)
    assert all(balance == 0 for account, balance in built.items() if account not in expected)


def test_incremental_rerun_merges_without_duplicates(project: Path) -> None:
    tables = ("fct_payments", "fct_ledger_entries", "fct_card_authorizations")

    def row_counts() -> dict[str, int]:
        with duckdb.connect(str(project / "target" / "finsight.duckdb"), read_only=True) as connection:
            return {t: connection.execute(f"select count(*) from {MARTS_SCHEMA}.{t}").fetchone()[0] for t in tables}

    before = row_counts()
    result = _run_dbt(project, "run", "--select", "config.materialized:incremental")
    assert result.returncode == 0, result.stdout[-4000:]
    rerun = json.loads((project / "target" / "run_results.json").read_text())["results"]
    assert sorted(r["unique_id"].rsplit(".", 1)[1] for r in rerun) == sorted(tables)
    assert row_counts() == before
