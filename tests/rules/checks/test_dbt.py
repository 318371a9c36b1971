"""The dbt checks run real dbt on DuckDB and fail for the right reason.

The requests are the ones the dbt rule describes for the real platform targets. Broken projects are
copies of dbt/ under tmp_path with one defect per lineage (a contract, a unit test, a data test, a
SQL syntax error), checked in ONE handler call as the engine batches them; a Jinja error that stops
dbt from parsing gets a copy of its own. The good project is checked in place: the handler writes
nothing into the workspace.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from graphbuild.rule import RuleContext
from graphbuild.run.action import Action, HandlerContext
from graphbuild.session import Session
from graphbuild.values import thaw
from rules.checks.dbt import _isolated_profiles, check_dbt
from rules.dbt import rule

REPO_ROOT = Path(__file__).resolve().parents[3]
DBT_DIR = REPO_ROOT / "dbt"


@pytest.fixture(scope="module")
def platform_actions() -> dict[str, Action]:
    """The actions of every dbt target of the platform, by target name."""
    with Session.open(REPO_ROOT) as session:
        settings = session.workspace.settings
        ctx = RuleContext(session.snapshot(), settings, settings.rule_settings("dbt"))
        targets = [t for t in session.graph().targets.values() if t.rule == "dbt"]
        return {str(t.label.name): action for t in targets for action in rule.actions(t, ctx)}


def _requests(actions: Mapping[str, Action], *names: str) -> list[dict[str, Any]]:
    return [thaw(actions[name].request) for name in names]


def _copy_project(tmp_path: Path) -> Path:
    """A workspace root holding a copy of dbt/ at the same relative path."""
    shutil.copytree(DBT_DIR, tmp_path / "dbt", ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb*", ".user.yml"))
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new))


def _ran(outcome: Mapping[str, Any]) -> dict[str, str]:
    results = json.loads(Path(outcome["artifacts"]["run_results"]).read_text())["results"]
    return {r["unique_id"]: r["status"] for r in results}


# --- the rule's actions -----------------------------------------------------------------------------


def test_every_dbt_target_has_one_action_batched_per_project(platform_actions: dict[str, Action]) -> None:
    kinds: dict[str, int] = {}
    for name, action in platform_actions.items():
        request = thaw(action.request)
        kinds[request["kind"]] = kinds.get(request["kind"], 0) + 1
        assert action.handler == "rules.checks.dbt:check_dbt" and action.pool == "dbt"
        assert action.batch == "dbt:dbt" and request["project"] == "dbt"
        assert action.name == ("dbt_parse" if request["kind"] == "dbt_project" else "dbt_build")
        assert {"python", "dist:dbt-core", "dist:dbt-duckdb"} <= set(action.toolchain)
        assert (DBT_DIR / request["file"]).is_file(), name
    assert kinds == {"dbt_model": 40, "dbt_seed": 5, "dbt_source": 13, "dbt_macro": 7, "dbt_project": 1}
    assert thaw(platform_actions["lake.payments_clean"].request)["file"] == "models/staging/_sources.yml"


# --- one batch over a project with a defect in each of four lineages -------------------------------

BROKEN = {
    # contract violation: the SQL casts minor_units to integer, the contract now says varchar
    "dim_currencies": ("models/marts/treasury/_treasury__models.yml",
                       "      - name: minor_units\n        data_type: integer", "      - name: minor_units\n        data_type: varchar"),
    # failing unit test: an open KYC review is expected to read as verified
    "int_kyc_status_latest": ("models/intermediate/compliance/_compliance__models.yml",
                              "{customer_id: c3, kyc_status: pending,", "{customer_id: c3, kyc_status: verified,"),
    # failing data test: statuses no longer normalised to lower case, accepted_values rejects them
    "stg_transfers": ("models/staging/transfers/stg_transfers.sql",
                      "lower(cast(status as varchar))", "upper(cast(status as varchar))"),
    # source whose YAML declares a column the lake table (its sample data) does not have
    "lake.fx_rates_daily": ("models/staging/_sources.yml", "          - name: published_at\n", "          - name: published_ts\n"),
    # SQL syntax error: a lost closing parenthesis
    "stg_aml_features": ("models/staging/compliance/stg_aml_features.sql",
                         "cast(customer_id as varchar)     ", "cast(customer_id as varchar      "),
}  # fmt: skip
GOOD = ("dim_merchants", "currency_codes", "lake.merchants", "dbt_project")
DOWNSTREAM_OF_BROKEN = "fct_transfers"


@pytest.fixture(scope="module")
def broken(platform_actions: dict[str, Action], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = _copy_project(tmp_path_factory.mktemp("broken"))
    for file, old, new in BROKEN.values():
        _edit(root / "dbt" / file, old, new)
    names = [*BROKEN, *GOOD, DOWNSTREAM_OF_BROKEN]
    outcomes = check_dbt(_requests(platform_actions, *names), HandlerContext(root, tmp_path_factory.mktemp("scratch")))
    return dict(zip(names, outcomes))


def test_contract_violation_fails_at_the_contract_column(broken: dict[str, dict[str, Any]]) -> None:
    outcome = broken["dim_currencies"]
    assert outcome["status"] == "failed"
    assert outcome["summary"].startswith("dbt/models/marts/treasury/_treasury__models.yml:22: contract of model dim_currencies not met for minor_units")
    assert "contract" in outcome["log"] and "minor_units" in outcome["log"]


def test_failing_unit_test_fails_with_the_difference(broken: dict[str, dict[str, Any]]) -> None:
    outcome = broken["int_kyc_status_latest"]
    assert outcome["status"] == "failed"
    assert outcome["summary"].startswith(
        "dbt/models/intermediate/compliance/_compliance__models.yml:45: unit test test_kyc_latest_event_decides_status"
        " of int_kyc_status_latest failed: actual differs from expected: (expected→actual) c3, verified→pending, 2"
    )
    assert "verified" in outcome["log"] and "pending" in outcome["log"]


def test_failing_data_test_fails_at_its_yaml_entry(broken: dict[str, dict[str, Any]]) -> None:
    outcome = broken["stg_transfers"]
    assert outcome["status"] == "failed"
    assert outcome["summary"].startswith(
        "dbt/models/staging/transfers/_transfers__models.yml:50: data test accepted_values_stg_transfers_status"
    )
    assert "configured to fail if != 0" in outcome["summary"]
    assert "COMPLETED" not in outcome["summary"] and "select" in outcome["log"]  # the compiled test is in the log


def test_sql_syntax_error_fails_at_the_source_line(broken: dict[str, dict[str, Any]]) -> None:
    outcome = broken["stg_aml_features"]
    assert outcome["status"] == "failed"
    assert outcome["summary"].startswith(
        'dbt/models/staging/compliance/stg_aml_features.sql:9: model stg_aml_features failed: Parser Error: syntax error at or near "as"'
    )
    assert "LINE 13:" in outcome["log"]  # DuckDB's line of the compiled SQL, mapped back to line 9 of the model


def test_source_declaring_a_column_its_data_lacks_fails_at_the_column(broken: dict[str, dict[str, Any]]) -> None:
    outcome = broken["lake.fx_rates_daily"]
    file, old, _ = BROKEN["lake.fx_rates_daily"]
    text = (DBT_DIR / file).read_text()
    line = text[: text.index(old)].count("\n") + 1
    assert outcome["status"] == "failed"
    assert outcome["summary"] == (
        f"dbt/models/staging/_sources.yml:{line}: source lake.fx_rates_daily declares columns its data does not have: published_ts"
    )


def test_good_targets_in_the_same_batch_pass(broken: dict[str, dict[str, Any]]) -> None:
    for name in GOOD:
        assert broken[name]["status"] == "passed", (name, broken[name]["summary"], broken[name]["log"])
    assert "data tests" in broken["lake.merchants"]["summary"]
    assert "parses dbt: 40 models" in broken["dbt_project"]["summary"]


def test_a_target_downstream_of_a_failure_is_skipped_naming_it(broken: dict[str, dict[str, Any]]) -> None:
    outcome = broken[DOWNSTREAM_OF_BROKEN]
    assert outcome["status"] == "skipped"
    assert "accepted_values_stg_transfers_status" in outcome["summary"] and "failed upstream" in outcome["summary"]


@pytest.mark.parametrize(
    ("culprit", "file", "old", "new", "line"),
    [
        ("stg_merchants", "models/staging/payments/stg_merchants.sql",
         "{{ source('lake', 'merchants') }}", "{{ source('lake', 'merchants') }", 3),
        # dbt's block lexer names no file here: the handler finds the template Jinja cannot parse
        ("macros.money", "macros/money.sql", "{%- endmacro %}\n", "{%- endmacr %}\n", 6),
    ],
    ids=["model", "macro"],
)  # fmt: skip
def test_jinja_error_fails_the_file_at_its_line(
    platform_actions: dict[str, Action], tmp_path: Path, culprit: str, file: str, old: str, new: str, line: int
) -> None:
    root = _copy_project(tmp_path / "ws")
    text = (root / "dbt" / file).read_text()
    (root / "dbt" / file).write_text(text.replace(old, new, 1))
    bad, other = check_dbt(_requests(platform_actions, culprit, "dim_merchants"), HandlerContext(root, tmp_path / "scratch"))
    assert bad["status"] == "failed"
    assert bad["summary"].startswith(f"dbt/{file}:{line}: dbt cannot parse it: Compilation Error"), bad["summary"]
    assert other["status"] == "failed"
    assert other["summary"].startswith(f"not checked: dbt cannot parse the project (dbt/{file}:{line}: ")


def test_a_duckdb_profile_with_a_fixed_path_is_run_on_a_scratch_copy(tmp_path: Path) -> None:
    """Isolation never depends on the project: a fixed DuckDB path would write into the workspace."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "dbt_project.yml").write_text("name: mini\nprofile: mini\n")
    (project / "profiles.yml").write_text("mini:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: target/mini.duckdb}\n")
    folder, note = _isolated_profiles(project, ".", "dev", tmp_path, tmp_path / "w.duckdb")
    assert folder == tmp_path / "profiles" and "does not read env_var('GRAPHBUILD_DUCKDB_PATH')" in note
    assert yaml.safe_load((folder / "profiles.yml").read_text())["mini"]["outputs"]["dev"]["path"] == str(tmp_path / "w.duckdb")
    assert _isolated_profiles(DBT_DIR, ".", "dev", tmp_path, tmp_path / "w.duckdb") == (DBT_DIR, "")


# --- the good platform, in place ----------------------------------------------------------------------


def _upstream(parent_map: Mapping[str, list[str]], roots: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        for parent in parent_map.get(todo.pop(), ()):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def test_one_mart_is_built_without_a_full_build(platform_actions: dict[str, Action], tmp_path: Path) -> None:
    before = sorted(p.relative_to(DBT_DIR) for p in DBT_DIR.rglob("*"))
    (outcome,) = check_dbt(_requests(platform_actions, "fct_payments"), HandlerContext(REPO_ROOT, tmp_path))
    assert outcome["status"] == "passed", outcome["log"]
    assert sorted(p.relative_to(DBT_DIR) for p in DBT_DIR.rglob("*")) == before  # nothing written into the workspace
    assert list(tmp_path.glob("dbt-*/warehouse.duckdb"))

    ran = _ran(outcome)
    assert set(ran.values()) <= {"success", "pass"}
    manifest = json.loads(Path(outcome["artifacts"]["manifest"]).read_text())
    mart = "model.finsight.fct_payments"
    tests = {uid for uid in ran if uid.split(".")[0] in ("test", "unit_test")}
    # every test that ran checks fct_payments; and every test of fct_payments ran
    assert tests and all(mart in manifest["parent_map"][uid] for uid in tests)
    assert {uid for uid in manifest["child_map"][mart] if uid.startswith("test.") and manifest["nodes"][uid].get("attached_node") == mart} <= tests
    # the built nodes are the mart and the ancestors of what its tests read, nothing else
    built = set(ran) - tests
    assert built == {u for u in {mart} | _upstream(manifest["parent_map"], tests) if not u.startswith("source.")}
    assert "model.finsight.rpt_regulatory_aml" not in built and "model.finsight.fct_transfers" not in built
    assert len([u for u in built if u.startswith("model.")]) < 40
    assert outcome["summary"] == "dbt build of model fct_payments passed: 1 model, 9 data tests, 1 unit test"


_IN_A_PROCESS = """
import json, sys
from pathlib import Path
from graphbuild.run.action import HandlerContext
from rules.checks.dbt import check_dbt
print(json.dumps(check_dbt(json.loads(sys.argv[1]), HandlerContext(Path(sys.argv[2]), Path(sys.argv[3])))))
"""


def test_parallel_runs_on_one_workspace_do_not_collide(platform_actions: dict[str, Action], tmp_path: Path) -> None:
    """Two workers (as two graphbuild runs start them) check the same project at the same time."""
    requests = json.dumps(_requests(platform_actions, "currency_codes", "stg_fx_rates"))
    runs = [
        subprocess.Popen([sys.executable, "-c", _IN_A_PROCESS, requests, str(REPO_ROOT), str(tmp_path / f"run{i}")],
                         cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for i in (1, 2)
    ]  # fmt: skip
    answers = [json.loads(run.communicate(timeout=300)[0].splitlines()[-1]) for run in runs]
    for answer in answers:
        assert [o["status"] for o in answer] == ["passed", "passed"], answer
    databases = {p.parent.parent.name for p in tmp_path.glob("run*/dbt-*/warehouse.duckdb")}
    assert databases == {"run1", "run2"}
    assert not list(DBT_DIR.glob("*.duckdb")) and not (DBT_DIR / "logs").exists()


@pytest.mark.slow
def test_the_whole_platform_project_passes(platform_actions: dict[str, Action], tmp_path: Path) -> None:
    names = sorted(platform_actions)
    outcomes = dict(zip(names, check_dbt(_requests(platform_actions, *names), HandlerContext(REPO_ROOT, tmp_path))))
    failed = {n: o["summary"] for n, o in outcomes.items() if o["status"] != "passed"}
    assert failed == {}
    assert outcomes["lake.aml_features"]["summary"] == "source lake.aml_features reads, with its 9 declared columns (it has no data tests)"
    ran = _ran(outcomes["fct_payments"])
    assert sum(u.startswith("model.") for u in ran) == 40 and sum(u.startswith("unit_test.") for u in ran) == 9
    assert sum(u.startswith("test.") for u in ran) == 246
    # a generic test macro answers for the data tests that use it
    assert "accepted_range_" in outcomes["macros.generic_tests.accepted_range"]["log"]
    assert "data tests" in outcomes["macros.generic_tests.accepted_range"]["summary"]
