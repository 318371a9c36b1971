"""Approval policy and rollback drills: what an attacker would try against prod, and that it fails safely.

The policy (``environments/*.toml`` and ``groups.toml``) is read from git objects at the plan's commit;
a plan records its digest; a plan that changes it needs the approvals of the policy in force too; a
rollback needs no approval only when it is the genuine rollback to a plan the environment ran.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from graphbuild.cli import main
from graphbuild.envs import load_policy
from graphbuild.errors import ConfigError, PlanError, StateError
from graphbuild.plan.approvals import missing_approvals, policy_details
from graphbuild.plan.archive import load_plan, save_plan
from graphbuild.plan.definition import Plan
from graphbuild.state import Leases, Pointer, Pointers
from graphbuild.testing import GitWorkspace
from graphbuild.values import freeze

from .conftest import Release, make_workspace

STAGED = "//models/staged:staged"
LEADS = ("samuel.adeyemi", "elena.petrova")  # prod approvers (data-platform-leads, risk-engineering)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def to_staging(release: Release) -> None:
    """Deploy the committed, tested head to dev, then staging (approved once)."""
    release.deploy(release.plan("dev"))
    release.promote("staging", approvers=("amara.okafor",))


def on_prod(release: Release) -> Plan:
    """The head through dev and staging, then to prod with its two approvals; the prod plan."""
    to_staging(release)
    return release.promote("prod", approvers=LEADS, author="dana.kowalski").plan


def a_second_version(release: Release) -> None:
    """A committed, tested change, deployed to dev and staging (prod is next)."""
    release.edit(STAGED, "staged v2")
    release.commit("staged v2")
    to_staging(release)


def refusals(release: Release, plan_id: str) -> list[dict]:
    return [dict(r.details) for r in release.audit().records() if r.event == "deploy" and r.result == "refused" and r.plan_id == plan_id]


# --- item 9: the policy comes from the plan's commit, never the working tree


def test_drill_an_uncommitted_required_0_never_deploys_prod_unapproved(release, capsys, monkeypatch):
    to_staging(release)
    plan = release.plan("prod", author="li.wei")
    release.ws.edit("environments/prod.toml", "required = 2", "required = 0")  # not committed
    assert release.env("prod").settings.approvals.required == 0  # the working tree says so

    with pytest.raises(PlanError, match="needs 2 more approval"):
        release.deploy(plan)  # the caller's (working tree) environment is not what counts
    monkeypatch.setenv("GRAPHBUILD_ACTOR", "mallory")
    code, _, err = cli(capsys, "-C", str(release.root), "deploy", "--env", "prod", "--plan", plan.id[:12])
    assert code == 2 and "needs 2 more approval" in err
    assert "environments/prod.toml are ignored" in err  # said out loud
    assert release.pointer("prod") is None and release.calls("prod") == []
    assert missing_approvals(release.store("prod"), release.env("prod"), plan) == 2
    assert [d["policy"] for d in refusals(release, plan.id)] == [plan.policy, plan.policy]
    assert release.audit().verify().ok


def test_drill_an_approver_added_in_the_working_tree_is_refused(release):
    to_staging(release)
    plan = release.plan("prod", author="li.wei")
    release.ws.edit("environments/groups.toml", 'data-platform-leads = [', 'data-platform-leads = ["mallory", ')
    assert "mallory" in release.groups()["data-platform-leads"]
    with pytest.raises(PlanError, match="mallory is in none of the approver groups of prod"):
        release.approve(plan, "mallory")
    assert missing_approvals(release.store("prod"), release.env("prod"), plan) == 2


def test_a_plan_records_the_committed_policy_and_ignores_a_dirty_one(release):
    release.ws.edit("environments/dev.toml", "required = 0", "required = 3")  # dev plans from a dirty tree
    plan = release.plan("dev")
    assert plan.commit.endswith("-dirty")
    assert plan.policy == load_policy(release.root, "dev", "HEAD").digest
    assert load_policy(release.root, "dev", "HEAD").required == 0
    release.deploy(plan)  # the committed policy needs no approval
    assert release.pointer("dev") == plan.id
    made = [r for r in release.audit().records() if r.event == "plan" and r.plan_id == plan.id]
    assert made[0].details["policy"] == plan.policy


def test_drill_a_policy_committed_on_a_branch_needs_the_approvals_of_the_policy_in_force(release):
    first = on_prod(release)
    a_second_version(release)
    release.ws.git("checkout", "-q", "-b", "loosen-prod")
    release.ws.edit("environments/prod.toml", "required = 2", "required = 0")
    release.ws.edit("environments/groups.toml", 'data-platform-leads = [', 'data-platform-leads = ["mallory", ')
    release.commit("loosen prod", test=False)
    store, env = release.store("prod"), release.env("prod")

    plan = release.plan("prod", author="li.wei")
    assert plan.policy != first.policy and plan.policy == load_policy(release.root, "prod", "HEAD").digest
    shown = policy_details(store, env, plan)
    assert shown["policy_in_force"] == first.policy
    assert shown["policy_changes"] == ["approvals.required: 2 -> 0", "group data-platform-leads: + mallory"]
    made = next(r for r in release.audit().records() if r.event == "plan" and r.plan_id == plan.id)
    assert made.details["policy"] == plan.policy and list(made.details["policy_changes"]) == shown["policy_changes"]

    with pytest.raises(PlanError, match="needs 2 more approval.*under the policy in force"):
        release.deploy(plan)
    with pytest.raises(PlanError, match="mallory is in none of the approver groups of prod"):
        release.approve(plan, "mallory")  # a lead on the branch, not under the policy in force
    assert release.pointer("prod") == first.id
    assert refusals(release, plan.id)[0]["policy"] == plan.policy

    for who in LEADS:  # the change is approved under the policy in force: then it deploys
        release.approve(plan, who)
    release.deploy(plan)
    assert release.pointer("prod") == plan.id
    started = next(r for r in release.audit().records() if r.event == "deploy" and r.result == "started" and r.plan_id == plan.id)
    assert (started.details["policy"], started.details["policy_in_force"]) == (plan.policy, first.policy)
    approvals = [r for r in release.audit().records() if r.event == "approval" and r.plan_id == plan.id]
    assert {r.details["policy"] for r in approvals} == {plan.policy}
    assert release.audit().verify().ok


def test_the_pull_request_comment_shows_a_policy_change_loudly(tmp_path, capsys, monkeypatch):
    ws = make_workspace(tmp_path / "empty", targets={})
    root = str(ws.root)
    monkeypatch.setenv("GRAPHBUILD_ACTOR", "li.wei")
    code, out, err = cli(capsys, "-C", root, "plan", "--env", "prod", "--format", "json")
    assert code == 0, err
    first = json.loads(out)
    assert "APPROVAL POLICY" not in err and "policy_changes" not in first and first["policy"]
    for who in LEADS:
        assert cli(capsys, "-C", root, "approve", first["id"][:12], "--env", "prod", "--by", who)[0] == 0
    assert cli(capsys, "-C", root, "deploy", "--env", "prod", "--plan", first["id"][:12])[0] == 0

    ws.edit("environments/prod.toml", "required = 2", "required = 1")
    ws.commit("one approval is enough")
    code, out, err = cli(capsys, "-C", root, "plan", "--env", "prod", "--format", "markdown")
    assert code == 0, err
    assert out.startswith("> [!CAUTION]\n> **APPROVAL POLICY CHANGE") and "`approvals.required: 2 -> 1`" in out
    code, out, _ = cli(capsys, "-C", root, "plan", "--env", "prod", "--format", "json")
    loud = json.loads(out)
    assert loud["policy_changes"] == ["approvals.required: 2 -> 1"] and loud["policy_in_force"] == first["policy"]
    assert loud["required_approvals"] == 2  # the policy in force still governs this plan

    code, out, err = cli(capsys, "-C", root, "plan", "--env", "dev", "--format", "markdown")  # the PR comment
    assert code == 0, err
    assert out.startswith("> [!CAUTION]\n> **APPROVAL POLICY CHANGE for prod") and "`approvals.required: 2 -> 1`" in out
    code, out, _ = cli(capsys, "-C", root, "plan", "--env", "dev", "--format", "json")
    assert json.loads(out)["policy_changes_elsewhere"] == {"prod": ["approvals.required: 2 -> 1"]}


# --- item 12: a rollback needs no approval only when it is genuine


def test_drill_a_crafted_rollback_to_a_plan_prod_never_ran_is_refused(release, capsys, monkeypatch):
    first = on_prod(release)
    a_second_version(release)
    pending = release.plan("prod", author="li.wei")  # never approved, never ran
    store = release.store("prod")
    crafted = dataclasses.replace(pending, author="mallory", previous=first.id, kind="rollback", restores=pending.id)
    save_plan(store, crafted, {})

    assert missing_approvals(store, release.env("prod"), crafted) == 2  # not a genuine rollback: approvals as any plan
    with pytest.raises(PlanError, match=f"plan {pending.id[:12]} never ran in prod"):
        release.deploy(crafted)
    monkeypatch.setenv("GRAPHBUILD_ACTOR", "mallory")
    code, _, err = cli(capsys, "-C", str(release.root), "deploy", "--env", "prod", "--plan", crafted.id[:12])
    assert code == 2 and "never ran in prod" in err
    assert release.pointer("prod") == first.id
    assert release.current("prod", STAGED) == first.fingerprints[STAGED]
    assert [d["restores"] for d in refusals(release, crafted.id)] == [pending.id, pending.id]


def test_drill_a_rollback_with_edited_steps_is_refused_and_the_genuine_one_needs_no_approval(release):
    first = on_prod(release)
    a_second_version(release)
    second = release.promote("prod", approvers=LEADS).plan
    genuine = release.rollback_plan("prod", actor="oncall")
    assert genuine.restores == first.id and genuine.policy == first.policy
    step = genuine.steps[0]
    evil = dataclasses.replace(step, request=freeze({**dict(step.request), "extra": "drop table payments"}))
    tampered = dataclasses.replace(genuine, steps=(evil, *genuine.steps[1:]))
    save_plan(release.store("prod"), tampered, {})

    with pytest.raises(PlanError, match=f"not the rollback to plan {first.id[:12]}.*edited or crafted"):
        release.deploy(tampered, confirm=True)
    assert release.pointer("prod") == second.id

    release.deploy(genuine, actor="oncall", confirm=True)  # no fresh approval: it restores what prod ran
    assert release.pointer("prod") == first.id
    assert release.current("prod", STAGED) == first.fingerprints[STAGED]


def test_drill_a_deploy_plan_claiming_to_restore_is_refused(release):
    first = on_prod(release)
    a_second_version(release)
    pending = release.plan("prod", author="li.wei")
    crafted = dataclasses.replace(pending, restores=first.id)  # would land the pointer on ``first``
    with pytest.raises(PlanError, match="not a deploy or a rollback plan"):
        release.deploy(crafted)
    assert release.pointer("prod") == first.id


# --- tampered plans


def test_drill_a_plan_whose_id_does_not_match_its_content_is_refused(release, capsys, monkeypatch):
    to_staging(release)
    plan = release.plan("prod", author="li.wei")
    key = release.root / "state" / "plans" / f"{plan.id}.json"
    body = json.loads(key.read_text())
    body["policy"] = None  # "made by an older graphbuild": approvals from the working tree
    body["steps"][0]["handler"] = "os:system"
    key.write_text(json.dumps(body))
    with pytest.raises(StateError, match="does not match its id"):
        load_plan(release.store("prod"), plan.id)
    monkeypatch.setenv("GRAPHBUILD_ACTOR", "mallory")
    code, _, err = cli(capsys, "-C", str(release.root), "deploy", "--env", "prod", "--plan", plan.id[:12])
    assert code == 2 and "does not match its id" in err
    assert release.pointer("prod") is None


@pytest.mark.parametrize("policy", [None, "forged"])
def test_drill_a_plan_recording_another_policy_is_refused(release, policy):
    to_staging(release)
    plan = release.plan("prod", author="li.wei")
    if policy == "forged":  # a policy with required = 0, stored by digest; the plan (re-hashed) names it
        loose = dataclasses.replace(load_policy(release.root, "prod", "HEAD"), required=0)
        release.store("prod").put_blob(loose.to_json())
        policy = loose.digest
    crafted = dataclasses.replace(plan, policy=policy)
    save_plan(release.store("prod"), crafted, {})
    with pytest.raises(PlanError, match="records no approval policy|is not the one plan"):
        release.deploy(crafted)
    assert release.pointer("prod") is None
    assert refusals(release, crafted.id)[0]["policy"] == policy


def test_drill_a_plan_whose_commit_is_a_git_option_is_refused(release):
    to_staging(release)
    crafted = dataclasses.replace(release.plan("prod", author="li.wei"), commit="--output=owned")
    save_plan(release.store("prod"), crafted, {})
    records = len(release.audit().records())
    with pytest.raises(ConfigError, match="is not a commit"):
        release.deploy(crafted, dry_run=True)
    assert len(release.audit().records()) == records  # a dry run writes nothing, not even its refusal
    with pytest.raises(ConfigError, match="is not a commit"):
        release.deploy(crafted)
    assert not (release.root / "owned").exists() and release.pointer("prod") is None


def test_a_policy_is_read_from_the_commit_a_workspace_names(tmp_path):
    ws = GitWorkspace(tmp_path / "ws")
    ws.write({"environments/dev.toml": 'backend_dir = "local/dev"\n[approvals]\nrequired = 1\n'})
    old = ws.commit("one")
    ws.edit("environments/dev.toml", "required = 1", "required = 2")
    new = ws.commit("two")
    assert load_policy(ws.root, "dev", old).required == 1 and load_policy(ws.root, "dev", new).required == 2
    assert load_policy(ws.root, "dev", old).digest != load_policy(ws.root, "dev", new).digest


# --- the policy in force fails closed; `approve` shows what the deploy check demands


UNFETCHED = "0123456789abcdef" * 2 + "01234567"  # a commit this clone never fetched (a shallow CI checkout)


def runs_an_unreadable_plan(release: Release, first: Plan, *, records_policy: bool) -> Plan:
    """Point prod at a copy of ``first`` whose commit cannot be read and whose policy blob is not stored:
    made by a graphbuild before plans recorded their policy, or whose blob was lost."""
    store = release.store("prod")
    old = dataclasses.replace(first, commit=UNFETCHED, policy=first.policy if records_policy else None)
    save_plan(store, old, {})
    blob = release.root / "state" / "blobs" / first.policy[:2] / first.policy
    blob.unlink()
    leases = Leases(store)
    lease = leases.acquire("prod", "an-older-graphbuild", ttl_s=60)
    Pointers(store).move("prod", first.id, Pointer("prod", old.id, old.commit, moved_by="ci"), lease)
    leases.release(lease)
    return old


@pytest.mark.parametrize("records_policy", [False, True], ids=["no-policy-recorded", "policy-blob-lost"])
def test_drill_an_unknown_policy_in_force_refuses_a_loosening_plan(release, capsys, records_policy):
    first = on_prod(release)
    old = runs_an_unreadable_plan(release, first, records_policy=records_policy)
    a_second_version(release)
    release.ws.git("checkout", "-q", "-b", "loosen-prod")
    release.ws.edit("environments/prod.toml", "required = 2", "required = 0")
    release.commit("loosen prod", test=False)
    plan = release.plan("prod", author="mallory")  # making the plan works; the plan says it cannot be governed
    assert plan.previous == old.id and load_policy(release.root, "prod", "HEAD").required == 0
    assert "cannot be established" in policy_details(release.store("prod"), release.env("prod"), plan)["policy_in_force_unknown"]

    calls = release.calls("prod")
    with pytest.raises(PlanError, match="approval policy in force for prod cannot be established") as refused:
        release.deploy(plan)  # only its own (required = 0) policy would have governed it
    assert "fetch-depth: 0" in refused.value.fix
    with pytest.raises(PlanError, match="cannot be established"):
        release.approve(plan, "samuel.adeyemi")
    assert release.pointer("prod") == old.id and release.calls("prod") == calls
    assert refusals(release, plan.id)[0]["reason"].startswith("the approval policy in force for prod cannot be established")
    code, _, err = cli(capsys, "-C", str(release.root), "approve", plan.id[:12], "--env", "prod", "--by", "samuel.adeyemi")
    assert code == 2 and "cannot be established" in err
    if records_policy:  # the fix it names: a plan at a commit with the policy in force stores its blob again
        assert "at a commit with that same policy stores it" in refused.value.fix
        release.ws.git("checkout", "-q", "-")
        release.plan("prod", author="li.wei")
        with pytest.raises(PlanError, match="needs 2 more approval.*under the policy in force"):
            release.deploy(plan)
    assert release.pointer("prod") == old.id and release.audit().verify().ok


def test_approve_shows_the_approvals_the_deploy_check_demands(release, capsys):
    first = on_prod(release)
    a_second_version(release)
    release.ws.git("checkout", "-q", "-b", "loosen-prod")
    release.ws.edit("environments/prod.toml", "required = 2", "required = 0")
    release.commit("loosen prod", test=False)
    plan = release.plan("prod", author="li.wei")
    code, out, err = cli(capsys, "-C", str(release.root), "approve", plan.id[:12], "--env", "prod", "--by", LEADS[0], "--format", "json")
    assert code == 0, err
    shown = json.loads(out)
    with pytest.raises(PlanError, match=r"needs 1 more approval\(s\) for prod under the policy in force: (\d+) required") as refused:
        release.deploy(plan)
    assert shown["required"] == int(re.search(r": (\d+) required", refused.value.message)[1]) == 2
    assert shown["approvals"] == [LEADS[0]] and release.pointer("prod") == first.id
    code, out, _ = cli(capsys, "-C", str(release.root), "approve", plan.id[:12], "--env", "prod", "--by", LEADS[1])
    assert code == 0 and "(2 of 2 approvals)" in out
    release.deploy(plan)
    assert release.pointer("prod") == plan.id


def test_drill_plan_never_shows_an_approval_count_it_cannot_know(tmp_path, capsys, monkeypatch):
    ws = make_workspace(tmp_path / "empty", targets={})
    root = str(ws.root)
    monkeypatch.setenv("GRAPHBUILD_ACTOR", "li.wei")
    code, out, err = cli(capsys, "-C", root, "plan", "--env", "prod", "--format", "json")
    assert code == 0, err
    first = json.loads(out)
    assert first["required_approvals"] == 2 and first["previous"] is None  # a first deploy: its own policy governs
    for who in LEADS:
        assert cli(capsys, "-C", root, "approve", first["id"][:12], "--env", "prod", "--by", who)[0] == 0
    assert cli(capsys, "-C", root, "deploy", "--env", "prod", "--plan", first["id"][:12])[0] == 0
    release = Release(ws)
    runs_an_unreadable_plan(release, load_plan(release.store("prod"), first["id"]), records_policy=False)
    ws.edit("environments/prod.toml", "required = 2", "required = 0")
    ws.commit("no approvals")
    code, out, err = cli(capsys, "-C", root, "plan", "--env", "prod", "--format", "json")
    assert code == 2 and "approval policy in force for prod cannot be established" in err and "fetch-depth: 0" in err
    made = [r for r in release.audit().records() if r.event == "plan" and r.result == "made"][-1]
    assert "cannot be established" in made.details["policy_in_force_unknown"]  # saved and audited, not shown
