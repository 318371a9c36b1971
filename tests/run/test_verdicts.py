"""Verdicts: promotion trusts only a verdict bound to its own key (and signed, where a remote cache is set)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from graphbuild.cache.definition import action_key
from graphbuild.cache.layered import open_cache
from graphbuild.errors import PlanError
from graphbuild.labels import Label
from graphbuild.run.runner import TestRequest, collect_actions, run_tests
from graphbuild.run import verdicts  # not its functions: pytest would collect ``tested_predicate``
from tests.plan.conftest import REGISTRY, Release, Silent, make_workspace

STAGED, REPORT = "//models/staged:staged", "//models/report:report"


def _keys(release: Release, label: str) -> tuple[str, str]:
    """(the key of the target's check action, the key of its verdict) at the working tree's fingerprint."""
    with release.ws.session(registry=REGISTRY) as session:
        fingerprint = session.fingerprinted().fingerprints[Label.parse(label)].data
        (action,) = collect_actions(session, [Label.parse(label)])
    key = action_key(action, fingerprint)
    return key, verdicts.verdict_key(fingerprint, [key])


def _entry(release: Release, key: str) -> Path:
    return release.root / "cache" / "actions" / "ac" / key[:2] / f"{key}.json"


def _test(release: Release):
    with release.ws.session(registry=REGISTRY) as session:
        return run_tests(session, TestRequest(("//...",), remote_cache="off"), Silent())


def test_a_passing_result_copied_over_a_failing_one_is_run_again_and_not_promoted(tmp_path):
    """Drill: copy a passing target's cache entries (its action result and its verdict) to the paths of
    a failing target's keys. The next run re-runs the failing check and fails; promotion refuses it."""
    release = Release(make_workspace(tmp_path / "ws"))
    release.test()
    release.deploy(release.plan("dev"))
    release.promote("staging", approvers=("amara.okafor",))
    release.edit(REPORT, "report v2\nFAIL the totals do not add up")
    release.commit("report v2", test=False)
    release.deploy(release.plan("dev"))  # dev does not ask for tests
    assert not _test(release).is_success

    passing_action, passing_verdict = _keys(release, STAGED)
    failing_action, failing_verdict = _keys(release, REPORT)
    assert _entry(release, passing_action).is_file() and _entry(release, passing_verdict).is_file()
    assert not _entry(release, failing_verdict).exists()
    for source, dest in ((passing_action, failing_action), (passing_verdict, failing_verdict)):
        _entry(release, dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_entry(release, source), _entry(release, dest))

    with release.ws.session(registry=REGISTRY) as session:
        tested = verdicts.tested_predicate(open_cache(session.workspace, "off"), lambda label: collect_actions(session, [label]),
                                  {label: fp.data for label, fp in session.fingerprinted().fingerprints.items()})
        assert not tested(Label.parse(REPORT)) and tested(Label.parse(STAGED))
    with pytest.raises(PlanError, match="not passed `graphbuild test`") as refused:
        release.plan("staging")
    assert REPORT in str(refused.value)

    rerun = _test(release)
    report = next(r for r in rerun.results if str(r.action.label) == REPORT)
    assert not rerun.is_success and not report.is_cached and report.outcome.status == "failed"
    assert "the totals do not add up" in report.outcome.summary
    with pytest.raises(PlanError, match="not passed `graphbuild test`"):
        release.plan("staging")
