"""The ``airflow_dag`` check: the rule's ``dagbag`` action and its handler, on real Airflow.

A small DAGs folder is written under tmp_path, every broken DAG breaking one thing; one handler call
(one DagBag per file, as in the ``airflow`` worker) checks them all, and each test asserts that its
file failed for its own reason. The same files in a ``MemorySnapshot`` drive the rule's ``actions``.
The last tests run the check over the 120 platform DAGs and through a real worker process.
"""

from __future__ import annotations

import time
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from graphbuild.labels import Label
from graphbuild.rule import RuleContext, Target
from graphbuild.run.action import HandlerContext
from graphbuild.testing import MemorySnapshot, Settings
from graphbuild.values import FrozenDict, freeze, thaw
from rules.airflow import analyze_dag_ids, rule
from rules.checks.airflow import DEFAULT_POLICY, check_dags, parse_time_calls

REPO = Path(__file__).resolve().parents[3]
Outcomes = dict[str, dict[str, Any]]

HEADER = """\
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

from common.defaults import default_args

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
"""


def dag_file(
    dag_id: str,
    body: str,
    *,
    args: str = 'default_args("payments-data")',
    tags: str = '["payments"]',
    header: str = HEADER,
    prelude: str = "",
) -> str:
    """A DAG file: the imports, module-level code, then one DAG whose body is `body`."""
    dag = (
        f'with DAG(dag_id="{dag_id}", schedule="@daily", start_date=START, catchup=False,\n'
        f"         default_args={args}, tags={tags}):\n"
    )
    return header + prelude + "\n" + dag + "".join(f"    {line}\n" for line in dedent(body).strip().splitlines())


FILES = {
    "dags/.airflowignore": "common/\nscratch_*.py\n",
    "dags/common/__init__.py": "",
    "dags/common/defaults.py": dedent(
        """
        from datetime import timedelta


        def default_args(owner=None, retries=2):
            args = {"retries": retries, "retry_delay": timedelta(minutes=5)}
            if owner is not None:
                args["owner"] = owner
            return args
        """
    ),
    "dags/good/good_daily.py": dag_file(
        "good_daily",
        """
        extract = BashOperator(task_id="extract", bash_command="echo {{ ds }}")
        load = EmptyOperator(task_id="load")
        extract >> load
        """,
    ),
    "dags/broken/import_error.py": HEADER.replace("from airflow.sdk import DAG", "from common.missing import helper"),
    "dags/broken/cyclic.py": dag_file(
        "cyclic",
        """
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        c = EmptyOperator(task_id="c")
        a >> b >> c >> a
        """,
    ),
    "dags/broken/no_owner.py": dag_file("no_owner", 'EmptyOperator(task_id="orphan")', args="default_args()"),
    "dags/broken/no_retries.py": dag_file(
        "no_retries", 'EmptyOperator(task_id="fragile")', args='default_args("payments-data", retries=0)'
    ),
    "dags/broken/no_tags.py": dag_file("no_tags", 'EmptyOperator(task_id="untagged")', tags="[]"),
    "dags/broken/wall_clock.py": dag_file(
        "wall_clock", 'BashOperator(task_id="stamp", bash_command=f"run --date {datetime.now(timezone.utc):%Y-%m-%d}")'
    ),
    "dags/broken/top_level_variable.py": dag_file(
        "top_level_variable",
        'BashOperator(task_id="ls", bash_command="aws s3 ls " + BUCKET)',
        header=HEADER.replace("from airflow.sdk import DAG", "from airflow.sdk import DAG, Variable"),
        prelude='BUCKET = Variable.get("landing_bucket", default="s3://landing")\n',
    ),
    "dags/broken/slow_parse.py": dag_file("slow_parse", 'EmptyOperator(task_id="t")', prelude="time.sleep(0.3)\n"),
    "dags/broken/hangs.py": dag_file("hangs", 'EmptyOperator(task_id="t")', prelude="time.sleep(30)\n"),
    "dags/broken/no_dag.py": "from airflow.sdk import DAG  # imported, never used\n\nVALUE = 1\n",
    "dags/dup/dup_first.py": dag_file("shared_id", 'EmptyOperator(task_id="first")'),
    "dags/dup/dup_second.py": dag_file("shared_id", 'EmptyOperator(task_id="second")'),
    "dags/scratch_copy.py": dag_file("good_daily", 'EmptyOperator(task_id="ignored")'),  # .airflowignore'd
    # Airflow 3's @asset makes a DAG named after the asset: the same id as a DAG in another file
    "dags/dup/asset_source.py": dedent(
        """
        from airflow.sdk import asset


        @asset(name="card_balances", schedule=None, tags=["cards"])
        def refresh_card_balances():
            return None
        """
    ),
    "dags/dup/asset_clash.py": dag_file("card_balances", 'EmptyOperator(task_id="load")'),
}
POLICIES = {  # per file: overrides of the policy (defaults otherwise)
    "dags/broken/slow_parse.py": {"parse_budget_s": 0.15},
    "dags/broken/hangs.py": {"import_timeout_s": 0.5},
    "dags/dup/asset_source.py": {"require_owner": False, "min_retries": 0},  # an @asset task: default owner, 0 retries
}
SNAPSHOT = MemorySnapshot({path: text for path, text in FILES.items()})


def dag_target(path: str) -> Target:
    package, _, name = path.rpartition("/")
    return Target(Label.parse(f"//{package}:{name[:-3]}"), "airflow_dag", "airflow", (path, "dags/.airflowignore"))


def rule_context(**settings: Any) -> RuleContext:
    return RuleContext(SNAPSHOT, Settings(), freeze(settings))


def request_for(path: str, **policy: Any) -> dict[str, Any]:
    """The request the rule describes for a file, with a policy override for this test."""
    ctx = rule_context(policy={**POLICIES.get(path, {}), **policy})
    (action,) = rule.actions(dag_target(path), ctx)
    return thaw(action.request)


UNCHECKED = ("dags/common/", "dags/scratch_")  # helpers, and a file the .airflowignore hides
CASES = {  # name -> request
    **{path: request_for(path) for path in FILES if path.endswith(".py") and not path.startswith(UNCHECKED)},
    "wall_clock warn": request_for("dags/broken/wall_clock.py", wall_clock="warn"),
    "wall_clock off": request_for("dags/broken/wall_clock.py", wall_clock="off"),
    "allowed owners": request_for("dags/good/good_daily.py", allowed_owners=["cards-data"]),
    "owner policy off": request_for("dags/broken/no_owner.py", require_owner=False),
    "forbidden owner": request_for("dags/good/good_daily.py", forbidden_owners=["payments-data"]),
    "asset, owner policy on": request_for("dags/dup/asset_source.py", require_owner=True),
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("airflow_checks")
    for path, text in FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


@pytest.fixture(scope="module")
def outcomes(workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every case in one handler call, as the engine batches them."""
    results = check_dags(list(CASES.values()), HandlerContext(workspace, tmp_path_factory.mktemp("scratch")))
    assert len(results) == len(CASES)
    return dict(zip(CASES, results))


def line_of(path: str, text: str) -> int:
    """The line of FILES[path] that contains `text`."""
    return next(i for i, line in enumerate(FILES[path].splitlines(), 1) if text in line)


def failed(outcomes: Outcomes, case: str) -> str:
    outcome = outcomes[case]
    assert outcome["status"] == "failed", outcome
    return outcome["summary"]


# --------------------------------------------------------------------------------------------------
# The handler: each broken file fails for its own reason


def test_a_good_dag_passes(outcomes: Outcomes) -> None:
    outcome = outcomes["dags/good/good_daily.py"]
    assert outcome["status"] == "passed", outcome
    assert outcome["summary"].startswith("dags/good/good_daily.py: DAG 'good_daily' loads in the DagBag (2 tasks")
    assert "top-level parse" in outcome["log"]


def test_an_import_error_fails_with_the_file_line_and_exception(outcomes: Outcomes) -> None:
    line = line_of("dags/broken/import_error.py", "from common.missing import helper")
    summary = failed(outcomes, "dags/broken/import_error.py")
    error = "import error: ModuleNotFoundError: No module named 'common.missing'"
    assert summary == f"dags/broken/import_error.py:{line}: {error}"


def test_a_cycle_fails_naming_the_dag_and_a_task_line(outcomes: Outcomes) -> None:
    summary = failed(outcomes, "dags/broken/cyclic.py")
    line = line_of("dags/broken/cyclic.py", 'c = EmptyOperator(task_id="c")')
    error = "cycle in the task graph: Cycle detected in Dag: cyclic. Faulty task: c"
    assert summary == f"dags/broken/cyclic.py:{line}: {error}"


def test_a_missing_owner_fails(outcomes: Outcomes) -> None:
    summary = failed(outcomes, "dags/broken/no_owner.py")
    assert "task no_owner.orphan has no owner (owner 'airflow')" in summary
    assert "retries" not in summary and "tags" not in summary


def test_too_few_retries_fail(outcomes: Outcomes) -> None:
    summary = failed(outcomes, "dags/broken/no_retries.py")
    assert "task no_retries.fragile has retries=0, the policy needs >= 1" in summary and "owner" not in summary


def test_missing_tags_fail(outcomes: Outcomes) -> None:
    assert failed(outcomes, "dags/broken/no_tags.py") == "dags/broken/no_tags.py: DAG 'no_tags' has no tags"


def test_an_owner_outside_the_allowed_teams_fails(outcomes: Outcomes) -> None:
    summary = failed(outcomes, "allowed owners")
    assert "task good_daily.extract has owner 'payments-data', not one of ['cards-data']" in summary


def test_a_wall_clock_call_in_task_arguments_fails_warns_or_is_ignored_by_policy(outcomes: Outcomes) -> None:
    line = line_of("dags/broken/wall_clock.py", "datetime.now")
    message = f"dags/broken/wall_clock.py:{line}: datetime.now() reads the wall clock at parse time"
    assert failed(outcomes, "dags/broken/wall_clock.py").startswith(message)
    warned = outcomes["wall_clock warn"]
    assert warned["status"] == "passed" and f"1 warning(s): {message}" in warned["summary"]
    ignored = outcomes["wall_clock off"]
    assert ignored["status"] == "passed" and "warning" not in ignored["summary"]


def test_variable_get_at_the_top_level_fails(outcomes: Outcomes) -> None:
    line = line_of("dags/broken/top_level_variable.py", "BUCKET = Variable.get(")
    summary = failed(outcomes, "dags/broken/top_level_variable.py")
    error = "Variable.get() reads an Airflow Variable at parse time"
    assert summary.startswith(f"dags/broken/top_level_variable.py:{line}: {error}")


def test_a_parse_over_the_budget_fails(outcomes: Outcomes) -> None:
    summary = failed(outcomes, "dags/broken/slow_parse.py")
    assert summary.startswith("dags/broken/slow_parse.py: top-level parse took 0.")
    assert summary.endswith("s, over the budget of 0.15 s")


def test_a_file_that_hangs_is_stopped_by_the_import_timeout(outcomes: Outcomes) -> None:
    line = line_of("dags/broken/hangs.py", "time.sleep(30)")
    error = "parse timed out after 0.5 s (dagbag_import_timeout)"
    assert failed(outcomes, "dags/broken/hangs.py") == f"dags/broken/hangs.py:{line}: {error}"


def test_a_file_without_a_dag_fails(outcomes: Outcomes) -> None:
    summary = failed(outcomes, "dags/broken/no_dag.py")
    assert summary == "dags/broken/no_dag.py: defines no DAG (the DAG processor would ignore it)"


def test_the_owner_policy_can_be_switched_off(outcomes: Outcomes) -> None:
    # Airflow's default owner used to be forbidden whatever the policy said.
    switched_off = outcomes["owner policy off"]
    assert switched_off["status"] == "passed", switched_off["summary"]
    summary = failed(outcomes, "forbidden owner")
    assert "task good_daily.extract has owner 'payments-data', which the policy forbids (forbidden_owners)" in summary


def test_an_asset_dag_id_clashing_with_another_file_fails_in_both(outcomes: Outcomes) -> None:
    asset, other = "dags/dup/asset_source.py", "dags/dup/asset_clash.py"
    assert failed(outcomes, asset) == f"{asset}: dag_id 'card_balances' is also defined in {other}"
    assert failed(outcomes, other) == f"{other}: dag_id 'card_balances' is also defined in {asset}"
    assert "DAG(s) ['card_balances']" in outcomes[asset]["log"]  # the DagBag names it so too
    # an @asset task has Airflow's default owner: the default policy refuses it
    assert "task card_balances.refresh_card_balances has no owner (owner 'airflow')" in failed(
        outcomes, "asset, owner policy on"
    )


def test_a_dag_id_defined_in_two_files_fails_in_both(outcomes: Outcomes) -> None:
    first, second = "dags/dup/dup_first.py", "dags/dup/dup_second.py"
    assert failed(outcomes, first) == f"{first}: dag_id 'shared_id' is also defined in {second}"
    assert failed(outcomes, second) == f"{second}: dag_id 'shared_id' is also defined in {first}"


def test_the_handler_leaves_no_dag_modules_or_sys_path_behind(outcomes: Outcomes, workspace: Path) -> None:
    import sys

    assert str(workspace / "dags") not in sys.path
    loaded = {name: getattr(module, "__file__", None) or "" for name, module in sys.modules.items()}
    assert [name for name, file in loaded.items() if file.startswith(str(workspace))] == []


# --------------------------------------------------------------------------------------------------
# The rule: what it describes


def test_the_rule_describes_one_batched_dagbag_action_in_the_airflow_pool() -> None:
    (action,) = rule.actions(dag_target("dags/good/good_daily.py"), rule_context())
    assert (action.name, action.handler, action.pool, action.batch) == (
        "dagbag", "rules.checks.airflow:check_dags", "airflow", "airflow-dagbag"
    )  # fmt: skip
    assert "dist:apache-airflow" in action.toolchain and "python" in action.toolchain
    assert thaw(action.request) == {
        "file": "dags/good/good_daily.py",
        "dags_folder": "dags",
        "other_dag_ids": {},  # the .airflowignore'd scratch_copy.py also says good_daily: it is never parsed
        "policy": DEFAULT_POLICY,
    }


def test_policy_settings_are_validated() -> None:
    from graphbuild.errors import RuleError

    with pytest.raises(RuleError, match="has no setting 'min_retry'.*min_retries"):
        rule.actions(dag_target("dags/good/good_daily.py"), rule_context(policy={"min_retry": 2}))
    with pytest.raises(RuleError, match="wall_clock = 'loud'"):
        rule.actions(dag_target("dags/good/good_daily.py"), rule_context(policy={"wall_clock": "loud"}))
    with pytest.raises(RuleError, match="require_owner = 'no'"):
        rule.actions(dag_target("dags/good/good_daily.py"), rule_context(policy={"require_owner": "no"}))


def test_the_dags_folder_is_the_setting_or_the_outermost_airflowignore() -> None:
    files = {"orchestration/.airflowignore": "lib/\n", "orchestration/x/y.py": FILES["dags/good/good_daily.py"]}
    snapshot = MemorySnapshot(files)
    target = Target(Label.parse("//orchestration/x:y"), "airflow_dag", "airflow", ("orchestration/x/y.py",))
    (action,) = rule.actions(target, RuleContext(snapshot, Settings(), FrozenDict()))
    assert action.request["dags_folder"] == "orchestration"
    (action,) = rule.actions(target, RuleContext(snapshot, Settings(), freeze({"dags_folder": "orchestration/x"})))
    assert action.request["dags_folder"] == "orchestration/x"


def test_static_dag_ids() -> None:
    source = dedent(
        """
        from airflow.sdk import DAG, dag
        DAG("positional")
        DAG(dag_id=f"dynamic_{1}")
        @dag
        def from_function(): ...
        @dag(dag_id="from_keyword", schedule=None)
        def ignored_name(): ...
        @asset(schedule=None)
        def asset_from_function(): ...
        @asset(name="asset_name", schedule=None)
        def ignored_too(): ...
        @sdk.asset(name="asset_name_2", dag_id="asset_dag_id", schedule=None)
        def ignored_three(): ...
        @asset.multi(outlets=[Asset("a"), Asset("b")], schedule=None)
        def multi_from_function(): ...
        @asset(name=NAME, schedule=None)
        def not_literal(): ...
        @task
        def not_a_dag(): ...
        """
    )
    ids = [dag_id for dag_id, _ in analyze_dag_ids(source.encode())["ids"]]
    assert ids == ["positional", None, "from_function", "from_keyword", "asset_from_function", "asset_name",
                   "asset_dag_id", "multi_from_function", None]


def test_only_parse_time_calls_are_flagged() -> None:
    source = dedent(
        """
        import datetime as dt
        import pendulum
        from time import time
        from airflow.sdk import Variable, task

        A = dt.datetime.now()
        B = pendulum.now("UTC")
        C = time()

        def later(x=dt.date.today()):
            return Variable.get("fine_at_run_time"), dt.datetime.utcnow()

        @task(retries=Variable.get("retries"))
        def run():
            return pendulum.today()

        key = lambda: time()
        """
    )
    assert parse_time_calls(source) == [
        (7, "wall_clock", "dt.datetime.now()"),
        (8, "wall_clock", "pendulum.now()"),
        (9, "wall_clock", "time()"),
        (11, "wall_clock", "dt.date.today()"),
        (14, "top_level_variable", "Variable.get()"),
    ]


# --------------------------------------------------------------------------------------------------
# The platform and the real worker


def test_all_platform_dags_pass_in_one_handler_call(tmp_path: Path) -> None:
    """`graphbuild test` on every DAG of the platform: the rule's requests, one batched handler call."""
    from graphbuild.run.runner import collect_actions
    from graphbuild.session import Session

    with Session.open(REPO) as session:
        labels = [label for label, target in session.graph().targets.items() if target.kind == "airflow_dag"]
        actions = [a for a in collect_actions(session, labels) if a.handler == "rules.checks.airflow:check_dags"]
    assert len(actions) == 120 and {a.batch for a in actions} == {"airflow-dagbag"}
    start = time.perf_counter()
    results = check_dags([thaw(a.request) for a in actions], HandlerContext(REPO, tmp_path))
    elapsed = time.perf_counter() - start
    failures = [r["summary"] for r in results if r["status"] != "passed"]
    assert failures == []
    assert not [r["summary"] for r in results if "warning" in r["summary"]]
    assert elapsed < 60, f"120 DAGs took {elapsed:.1f} s"
    print(f"120 platform DAGs checked in {elapsed:.2f} s")


def test_the_check_runs_in_a_real_worker_with_its_per_file_timeout(workspace: Path) -> None:
    """Through the engine's worker protocol: Airflow imported in the worker, SIGALRM in its main thread."""
    from graphbuild.run.pool import WorkerPools

    pools = WorkerPools(REPO)
    requests = [CASES["dags/good/good_daily.py"], CASES["dags/broken/hangs.py"]]
    try:
        message = {
            "handler": "rules.checks.airflow:check_dags",
            "requests": requests,
            "root": str(workspace),
            "scratch": str(workspace / ".scratch"),
        }
        answer = pools.call("airflow", message, timeout_s=120)
    finally:
        pools.close()
    good, hangs = answer["results"]
    assert good["status"] == "passed", good
    assert hangs["summary"].endswith(": parse timed out after 0.5 s (dagbag_import_timeout)"), hangs
