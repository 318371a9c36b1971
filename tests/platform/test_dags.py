"""The FinSight DAGs load in Airflow's own DagBag and follow the platform conventions.

Everything here runs the real Airflow 3 installed in the virtual environment, without a metadata
database, a connection or the network: the DagBag parses dags/ exactly as the DAG processor does, and
every templated field of every task is rendered with Airflow's own Jinja environment for a sample
logical date. The static checks read the DAG files with `ast`, the way graphbuild's DAG rule reads
them, so a DAG that breaks the conventions fails here before the engine misses one of its edges.
"""

from __future__ import annotations

import ast
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from rules.checks.airflow import airflow_environment
from rules.checks.airflow import dags_on_path as on_sys_path

# One worker parses the DagBag once for the whole module when the suite runs under xdist (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("airflow_dags")

REPO = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO / "dags"
COMMON_DIR = DAGS_DIR / "common"
DAG_FILES = sorted(path for path in DAGS_DIR.rglob("*.py") if COMMON_DIR not in path.parents)
DAG_IDS = [path.stem for path in DAG_FILES]
EXPECTED_DAG_COUNT = 120

DBT_MODELS = frozenset(
    {
        "stg_payments", "stg_card_authorizations", "stg_card_fraud_scores", "stg_transfers", "stg_ledger_entries",
        "stg_kyc_events", "stg_fx_rates", "stg_accounts", "stg_merchants", "stg_chargebacks", "stg_aml_features",
        "stg_settlements", "stg_customer_features",
        "int_payments_enriched", "int_payments_fx_converted", "int_card_auth_outcomes", "int_transfers_enriched",
        "int_ledger_balances_daily", "int_kyc_status_latest", "int_account_risk_inputs", "int_merchant_daily_volume",
        "int_chargeback_rates", "int_settlement_matching", "int_fraud_case_candidates", "int_customer_activity",
        "fct_payments", "fct_card_authorizations", "fct_transfers", "fct_ledger_entries", "fct_settlements",
        "fct_chargebacks", "fct_fraud_alerts", "dim_accounts", "dim_merchants", "dim_customers", "dim_currencies",
        "rpt_daily_revenue", "rpt_regulatory_aml", "rpt_reconciliation_breaks", "rpt_customer_risk_scores",
    }
)  # fmt: skip
SPARK_JOBS = frozenset(
    {
        "payments_stream_ingest", "card_auth_stream_ingest", "fraud_signal_stream",
        "payments_clean", "card_fraud_scoring", "transfers_ingest", "ledger_ingest", "kyc_ingest", "fx_rates_daily",
        "accounts_snapshot", "merchant_enrichment", "chargeback_ingest", "aml_features", "settlement_batches",
        "customer_360_features",
    }
)  # fmt: skip
TOPICS = frozenset(
    {
        "payments.transactions.v1", "cards.authorizations.v1", "transfers.events.v1", "ledger.entries.v1",
        "fraud.signals.v1", "kyc.events.v1", "fx.rates.v1", "accounts.changes.v1",
    }
)  # fmt: skip

# Helper calls whose literal argument is an edge of the DAG (argument name -> what it must name).
EDGE_ARGUMENTS = {
    "dbt_task": ("select", DBT_MODELS),
    "model_sensor": ("model", DBT_MODELS),
    "spark_task": ("job", SPARK_JOBS),
    "topic_sensor": ("topic", TOPICS),
}
# Calls that read the wall clock or Airflow Variables: a DAG must never partition by them.
FORBIDDEN_CALLS = {
    ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"), ("time", "time"),
    ("time", "time_ns"), ("pendulum", "now"), ("pendulum", "today"), ("timezone", "utcnow"), ("Variable", "get"),
}  # fmt: skip
DEFAULT_OWNER = "airflow"

# A sample run: the daily run whose data interval is 2024-05-01 01:30 -> 2024-05-02 01:30 UTC.
SAMPLE_START = datetime(2024, 5, 1, 1, 30, tzinfo=timezone.utc)
SAMPLE_PARAMS = {
    "start_date": "2024-04-01",
    "end_date": "2024-04-03",
    "reason": "FIN-1234 restate after the fee fix",
    "model_stage": "production",
    "plan_id": "plan-0f3c9a1b",
}


# --------------------------------------------------------------------------------------------------
# Static reading of the DAG files (no Airflow needed)


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _dotted_tail(node: ast.expr) -> tuple[str, str] | None:
    """(`owner`, `attr`) of a call target like `datetime.now` or `datetime.datetime.now`."""
    if isinstance(node, ast.Attribute):
        owner = node.value
        if isinstance(owner, ast.Name):
            return owner.id, node.attr
        if isinstance(owner, ast.Attribute):
            return owner.attr, node.attr
    return None


def _calls(tree: ast.AST) -> Iterator[ast.Call]:
    return (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def _dag_calls(tree: ast.Module) -> list[ast.Call]:
    return [call for call in _calls(tree) if _call_name(call) == "DAG"]


def _keyword(call: ast.Call, name: str) -> ast.keyword | None:
    return next((kw for kw in call.keywords if kw.arg == name), None)


def _module_level_calls(tree: ast.Module) -> Iterator[ast.Call]:
    """Calls executed when the module is imported (outside function bodies)."""
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in statement.decorator_list:
                yield from _calls(decorator)
            continue
        yield from _calls(statement)


def _edge_calls() -> list[tuple[str, str, str, ast.Call]]:
    """(file stem, helper, argument value, call) for every edge-bearing helper call in the DAG files."""
    found = []
    for path in DAG_FILES:
        for call in _calls(_parse(path)):
            helper = _call_name(call)
            if helper not in EDGE_ARGUMENTS:
                continue
            argument, _ = EDGE_ARGUMENTS[helper]
            keyword = _keyword(call, argument)
            value = keyword.value.value if keyword and isinstance(keyword.value, ast.Constant) else None
            found.append((path.stem, helper, value, call))
    return found


def test_exactly_120_dag_files_with_unique_stems() -> None:
    assert len(DAG_FILES) == EXPECTED_DAG_COUNT
    duplicates = [stem for stem, count in Counter(DAG_IDS).items() if count > 1]
    assert not duplicates, f"file stems must be unique across dags/: {duplicates}"


def test_every_dag_folder_has_its_build_file() -> None:
    folders = {path.parent for path in DAG_FILES}
    for folder in sorted(folders):
        build = folder / "BUILD"
        assert build.is_file(), f"{folder.relative_to(REPO)} has DAG files but no BUILD file"
        calls = [statement.value for statement in _parse(build).body if isinstance(statement, ast.Expr)]
        assert [_call_name(call) for call in calls] == ["airflow_dags"], build
        sources = _keyword(calls[0], "sources")
        assert sources is not None and ast.literal_eval(sources.value) == ["*.py"], build
    common = [statement.value for statement in _parse(COMMON_DIR / "BUILD").body if isinstance(statement, ast.Expr)]
    assert [_call_name(call) for call in common] == ["python_library"]
    assert ast.literal_eval(_keyword(common[0], "sources").value) == ["*.py"]
    assert (COMMON_DIR / "__init__.py").is_file()


@pytest.mark.parametrize("path", DAG_FILES, ids=DAG_IDS)
def test_one_dag_per_file_with_literal_id_schedule_and_catchup(path: Path) -> None:
    dag_calls = _dag_calls(_parse(path))
    assert len(dag_calls) == 1, f"{path.name}: one DAG per file"
    (dag_call,) = dag_calls
    dag_id = _keyword(dag_call, "dag_id")
    assert dag_id is not None and isinstance(dag_id.value, ast.Constant), f"{path.name}: dag_id must be a literal"
    assert dag_id.value.value == path.stem, f"{path.name}: dag_id {dag_id.value.value!r} is not the file stem"
    catchup = _keyword(dag_call, "catchup")
    assert catchup is not None and isinstance(catchup.value, ast.Constant), f"{path.name}: catchup must be explicit"
    assert isinstance(catchup.value.value, bool)
    for required in ("schedule", "start_date", "default_args", "tags", "description", "doc_md", "max_active_runs"):
        assert _keyword(dag_call, required) is not None, f"{path.name}: DAG(...) sets no {required}"


@pytest.mark.parametrize("path", DAG_FILES, ids=DAG_IDS)
def test_no_wall_clock_and_no_variables(path: Path) -> None:
    tree = _parse(path)
    for call in _calls(tree):
        tail = _dotted_tail(call.func)
        assert tail not in FORBIDDEN_CALLS, f"{path.name}:{call.lineno} calls {'.'.join(tail)}"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert "Variable" not in {alias.name for alias in node.names}, f"{path.name}: imports Variable"


def test_helpers_read_no_wall_clock_or_variable_at_import() -> None:
    for path in sorted(COMMON_DIR.glob("*.py")):
        for call in _module_level_calls(_parse(path)):
            tail = _dotted_tail(call.func)
            assert tail not in FORBIDDEN_CALLS, f"{path.name}:{call.lineno} calls {'.'.join(tail)} at import"


def test_edge_arguments_are_literals_naming_real_assets() -> None:
    calls = _edge_calls()
    assert calls, "no helper calls found"
    for stem, helper, value, call in calls:
        argument, known = EDGE_ARGUMENTS[helper]
        assert isinstance(value, str), f"{stem}:{call.lineno}: {helper}({argument}=...) must be a string literal"
        names = value.split() if helper == "dbt_task" else [value]
        unknown = [name for name in names if name not in known]
        assert not unknown, f"{stem}:{call.lineno}: {helper} names unknown {argument} {unknown}"


def test_every_model_job_and_topic_is_orchestrated() -> None:
    used: dict[str, set[str]] = defaultdict(set)
    for _, helper, value, _ in _edge_calls():
        used[helper].update(value.split())
    assert used["dbt_task"] == DBT_MODELS, f"models no DAG builds: {sorted(DBT_MODELS - used['dbt_task'])}"
    assert used["spark_task"] == SPARK_JOBS, f"jobs no DAG runs: {sorted(SPARK_JOBS - used['spark_task'])}"
    assert used["topic_sensor"] == TOPICS, f"topics no DAG waits for: {sorted(TOPICS - used['topic_sensor'])}"


# --------------------------------------------------------------------------------------------------
# Airflow's DagBag


@pytest.fixture(scope="module")
def dags_on_path() -> Iterator[None]:
    """dags/ on sys.path, as Airflow puts its DAGs folder there, so `from common.dbt import ...` works."""
    with on_sys_path(DAGS_DIR):
        yield


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory, dags_on_path: None) -> Any:
    """The DagBag of dags/, parsed with a throw-away AIRFLOW_HOME and no metadata database.

    The environment is the one graphbuild's `dagbag` check (rules/checks/airflow.py) parses in.
    """
    with airflow_environment(tmp_path_factory.mktemp("airflow_home"), DAGS_DIR, safe_mode=True):
        from airflow.dag_processing.dagbag import DagBag

        yield DagBag(dag_folder=str(DAGS_DIR), safe_mode=True)


def test_dagbag_loads_every_dag_without_import_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}, "\n\n".join(f"{path}:\n{error}" for path, error in dagbag.import_errors.items())
    assert len(dagbag.dags) == EXPECTED_DAG_COUNT
    assert sorted(dagbag.dag_ids) == sorted(DAG_IDS)
    per_file = Counter(Path(dag.fileloc).resolve() for dag in dagbag.dags.values())
    assert set(per_file.values()) == {1}
    assert set(per_file) == {path.resolve() for path in DAG_FILES}
    own_warnings = [w for warnings in dagbag.captured_warnings.values() for w in warnings if str(DAGS_DIR) in w]
    assert not own_warnings, own_warnings


def test_every_dag_serializes_as_the_scheduler_stores_it(dagbag: Any) -> None:
    """The DAG processor stores DAGs serialized; a DAG that cannot be serialized never reaches the scheduler."""
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in dagbag.dags.values():
        restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
        assert restored.dag_id == dag.dag_id
        assert sorted(restored.task_ids) == sorted(dag.task_ids)
        assert len(restored.deadline or []) == len(dag.deadline or [])


def test_dag_ids_are_file_stems(dagbag: Any) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert Path(dag.fileloc).stem == dag_id


def test_owners_retries_delays_tags_and_catchup(dagbag: Any) -> None:
    from common.defaults import TEAMS

    for path in DAG_FILES:
        dag = dagbag.dags[path.stem]
        assert dag.tags, f"{dag.dag_id}: no tags"
        assert dag.description and dag.doc_md, f"{dag.dag_id}: no description or doc_md"
        assert dag.default_args.get("owner") in TEAMS, f"{dag.dag_id}: owner {dag.default_args.get('owner')!r}"
        assert dag.default_args.get("retries", 0) >= 1, f"{dag.dag_id}: no retries in default_args"
        assert dag.default_args.get("retry_delay", timedelta(0)) > timedelta(0), f"{dag.dag_id}: no retry_delay"
        (dag_call,) = _dag_calls(_parse(path))
        assert dag.catchup is _keyword(dag_call, "catchup").value.value
        assert dag.tasks, f"{dag.dag_id}: no tasks"
        for task in dag.tasks:
            where = f"{dag.dag_id}.{task.task_id}"
            assert task.owner != DEFAULT_OWNER and task.owner in TEAMS, f"{where}: owner {task.owner!r}"
            assert task.retries >= 1, f"{where}: retries {task.retries}"
            assert task.retry_delay > timedelta(0), f"{where}: no retry delay"
            assert task.execution_timeout is not None, f"{where}: no execution timeout"


def _schedule(dag: Any) -> str:
    """The DAG's timetable as text (the SDK timetables are attrs classes with a full repr)."""
    return "None" if type(dag.timetable).__name__ == "NullTimetable" else repr(dag.timetable)


def test_schedules_are_deliberate(dagbag: Any) -> None:
    unscheduled = sorted(dag_id for dag_id, dag in dagbag.dags.items() if _schedule(dag) == "None")
    assert unscheduled == sorted(
        p.stem for p in DAG_FILES if p.parent.name == "backfill" or p.stem == "stream_deploy_interruption_audit"
    )
    for dag_id in unscheduled:
        dag = dagbag.dags[dag_id]
        assert dag.catchup is False
        assert set(dag.params) <= set(
            SAMPLE_PARAMS
        ), f"{dag_id}: params without a sample {set(dag.params) - set(SAMPLE_PARAMS)}"


def test_no_two_dags_share_a_task_graph_and_schedule(dagbag: Any) -> None:
    """No DAG is a copy of another with a number changed: graphs and schedules all differ."""
    shapes = Counter()
    graphs = Counter()
    for dag in dagbag.dags.values():
        edges = tuple(sorted((task.task_id, down) for task in dag.tasks for down in sorted(task.downstream_task_ids)))
        tasks = tuple(sorted(task.task_id for task in dag.tasks))
        graphs[(tasks, edges)] += 1
        shapes[(tasks, edges, _schedule(dag))] += 1
    assert max(shapes.values()) == 1, [shape for shape, count in shapes.items() if count > 1]
    assert max(graphs.values()) <= 2, "the same task graph appears in more than two DAGs"


def _sample_context(dag: Any, task: Any) -> dict[str, Any]:
    import pendulum
    from airflow.sdk.execution_time import macros

    start = pendulum.instance(SAMPLE_START)
    end = start.add(days=1)
    run_id = f"scheduled__{start.isoformat()}"
    return {
        "dag": dag,
        "task": task,
        "macros": macros,
        "params": dict(SAMPLE_PARAMS),
        "run_id": run_id,
        "logical_date": start,
        "data_interval_start": start,
        "data_interval_end": end,
        "ds": start.to_date_string(),
        "ds_nodash": start.format("YYYYMMDD"),
        "ts": start.isoformat(),
        "ts_nodash": start.format("YYYYMMDD[T]HHmmss"),
        "dag_run": SimpleNamespace(run_id=run_id, run_after=end, logical_date=start, conf={}),
    }


def test_every_template_renders_for_a_logical_date(dagbag: Any) -> None:
    rendered_fields = 0
    for dag in dagbag.dags.values():
        env = dag.get_template_env()
        for task in dag.tasks:
            context = _sample_context(dag, task)
            for field in task.template_fields:
                value = getattr(task, field, None)
                if value is None:
                    continue
                rendered = task.render_template(value, context, jinja_env=env)
                assert "{{" not in repr(rendered), f"{dag.dag_id}.{task.task_id}.{field} left a template: {rendered!r}"
                rendered_fields += 1
    assert rendered_fields > 500


def test_partitions_follow_the_logical_date(dagbag: Any) -> None:
    """The same run renders the same partition; another logical date renders another one."""
    dag = dagbag.dags["payments_clean_daily"]
    task = dag.get_task("clean_payments")
    env = dag.get_template_env()
    command = task.render_template(task.bash_command, _sample_context(dag, task), jinja_env=env)
    assert 'RUN_DATE="2024-05-01"' in command and '--run-date "$RUN_DATE"' in command
    assert "--job" not in command and "payments_clean/main.py" in command

    dbt = dagbag.dags["dbt_cards_intraday"].get_task("build_hour")
    rendered = dbt.render_template(dbt.bash_command, _sample_context(dbt.dag, dbt), jinja_env=env)
    assert "--select fct_card_authorizations" in rendered
    assert '\\"window_start\\": \\"2024-05-01T01:30:00+00:00\\"' in rendered

    restatement = dagbag.dags["payments_clean_weekly_restatement"]
    days = [
        task.render_template(task.bash_command, _sample_context(restatement, task), jinja_env=env).split('"')[1]
        for task in sorted(restatement.tasks, key=lambda t: t.task_id)
    ]
    assert days == [f"2024-05-0{day}" for day in range(1, 8)]

    backfill = dagbag.dags["backfill_payments_clean"].get_task("rerun_payments_clean")
    loop = backfill.render_template(backfill.bash_command, _sample_context(backfill.dag, backfill), jinja_env=env)
    assert 'RUN_DATE="2024-04-01"' in loop and '"2024-04-03" ]]' in loop


# --------------------------------------------------------------------------------------------------
# The helpers' own guards and pure functions


def test_helpers_reject_calls_that_break_the_conventions(dags_on_path: None) -> None:
    from common.dbt import dbt_task
    from common.defaults import default_args
    from common.kafka import topic_sensor
    from common.lake import partition_sensor
    from common.spark import spark_task

    with pytest.raises(ValueError, match="model names only"):
        dbt_task(task_id="x", select="+fct_payments")
    with pytest.raises(ValueError, match="model names only"):
        dbt_task(task_id="x", select="tag:finance")
    with pytest.raises(ValueError, match="no meaning"):
        dbt_task(task_id="x", select="fct_payments", command="test", full_refresh=True)
    with pytest.raises(ValueError, match="snake case"):
        spark_task(task_id="x", job="payments-clean")
    with pytest.raises(ValueError, match="streaming jobs run continuously"):
        spark_task(task_id="x", job="payments_stream_ingest", mode="streaming", grain="range")
    with pytest.raises(ValueError, match="topic names"):
        topic_sensor(task_id="x", topic="payments_transactions")
    with pytest.raises(ValueError, match="lake.<table>"):
        partition_sensor(task_id="x", table="payments_clean")
    with pytest.raises(ValueError, match="unknown owner"):
        default_args("airflow")
    with pytest.raises(ValueError, match="retries"):
        default_args("payments-data", retries=0)


def test_topic_sensor_decision(dags_on_path: None) -> None:
    from common.kafka import partitions_caught_up

    assert partitions_caught_up({0: 10, 1: 7, 2: 99}, 1.0)
    assert not partitions_caught_up({0: 10, 1: None, 2: 99}, 1.0)
    assert partitions_caught_up({0: 10, 1: None, 2: 99}, 0.6)
    assert not partitions_caught_up({}, 0.5)


def test_commit_gap_measures_the_longest_silence(dags_on_path: None) -> None:
    from common.streaming import longest_gap

    start = datetime(2024, 5, 1, 3, 0, tzinfo=timezone.utc)
    commits = [start + timedelta(seconds=s) for s in (20, 40, 60, 200, 220)]
    assert longest_gap(commits, start, start + timedelta(seconds=240)) == timedelta(seconds=140)
    assert longest_gap([], start, start + timedelta(minutes=5)) == timedelta(minutes=5)


def test_backfill_range_guard(dags_on_path: None) -> None:
    from common.backfill import validate_range

    assert validate_range("2024-04-01", "2024-04-03", "2024-05-02", max_days=31) == 3
    with pytest.raises(ValueError, match="after end_date"):
        validate_range("2024-04-03", "2024-04-01", "2024-05-02", max_days=31)
    with pytest.raises(ValueError, match="not a closed day"):
        validate_range("2024-04-01", "2024-05-02", "2024-05-02", max_days=90)
    with pytest.raises(ValueError, match="at most 31 days"):
        validate_range("2024-01-01", "2024-03-01", "2024-05-02", max_days=31)
