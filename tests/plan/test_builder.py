"""The plan builder on a real dbt project (dbt on DuckDB): what a change rebuilds, after a first deploy."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

from graphbuild.envs import Environment, EnvironmentSettings
from graphbuild.plan.builder import desired_state
from graphbuild.plan.explainer import explain
from graphbuild.testing import GitWorkspace
from graphbuild.values import thaw
from tests.plan.conftest import ENVIRONMENTS, GITIGNORE, SETTINGS, Release

MINI = Path(__file__).resolve().parents[1] / "fixtures" / "mini" / "dbt"
STG = "dbt/models/staging/stg_payments.sql"
# a singular test that refs a model and that model's reader: a cycle through a check-only edge
SINGULAR = {"dbt/tests/assert_volume_ties.sql": (
    "select day from {{ ref('rpt_daily_volume') }}\n"
    "where volume > (select sum(abs(amount)) from {{ ref('fct_payments') }})\n"
)}


def _release(root: Path) -> Release:
    shutil.copytree(MINI, root / "dbt")
    ws = GitWorkspace(root, SETTINGS)
    ws.write({".gitignore": GITIGNORE, **ENVIRONMENTS, **SINGULAR})
    ws.commit("base")
    return Release(ws, registry=None)  # the installed rules: dbt for real


def _categories(plan) -> dict[str, str]:
    return {step.label.rpartition(":")[2]: thaw(step.request)["category"] for step in plan.steps if step.name == "dbt_deploy"}


def test_a_change_after_the_first_deploy_plans_through_a_singular_test_over_two_models(tmp_path: Path) -> None:
    release = _release(tmp_path / "ws")
    first = release.plan("dev")
    release.deploy(first)
    release.ws.edit(STG, "    created_at\n", "    created_at,\n    amount_cents as fee_cents\n")
    release.commit("add a column", test=False)
    plan = release.plan("dev")  # RecursionError in the dbt classifier before the fix
    assert _categories(plan) == {"stg_payments": "non-breaking", "fct_payments": "reuse", "rpt_daily_volume": "reuse"}
    text = explain(plan)
    assert "non-breaking: column added: fee_cents" in text and "retyped" not in text
    done = {r.step.label.rpartition(":")[2]: r.summary for r in release.deploy(plan).steps if r.step.name == "dbt_deploy"}
    assert done["fct_payments"].startswith("reused") and done["rpt_daily_volume"].startswith("reused"), done


def test_each_plan_has_one_memo_its_rules_share_and_no_other_plan_sees(mini: GitWorkspace) -> None:
    env = Environment("dev", EnvironmentSettings(backend_dir="backends/dev"), mini.root, "envs/dev.toml")
    seen: list[tuple[int, str, dict]] = []  # (plan, rule, the memo its plan step got)

    class Recording:  # records the context each rule's plan step gets, plans nothing
        def __init__(self, name: str) -> None:
            self.name = name

        def deploy_steps(self, target, ctx):
            seen.append((plan, self.name, ctx.memo))
            ctx.memo[self.name] = ctx.memo.get(self.name, 0) + 1
            return ()

    with mini.session(use_cache=False) as session:
        fake = SimpleNamespace(fingerprinted=session.fingerprinted,
                               registry=SimpleNamespace(rules={name: Recording(name) for name in session.registry.rules}))
        for plan in (1, 2):
            desired_state(fake, env, None)
    memos = {n: [memo for p, _, memo in seen if p == n] for n in (1, 2)}
    assert len({rule for _, rule, _ in seen}) > 1  # several rules plan steps here
    for n in (1, 2):
        assert memos[n] and all(memo is memos[n][0] for memo in memos[n])  # one memo per plan, for every rule
    assert memos[1][0] is not memos[2][0] and memos[2][0] == memos[1][0]  # the second counted afresh
