"""The scheduler, workers, local cache, sharding and reports, on fake targets whose files say what to do."""

import json
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphbuild.labels import Label
from graphbuild.run.junit import write_junit
from graphbuild.run.runner import TestRequest, run_tests
from graphbuild.run.scheduler import RunOptions
from graphbuild.run.shard import assign
from graphbuild.testing import FakeRule, GitWorkspace, Registry

REGISTRY = Registry([FakeRule()])


class Events:
    def __init__(self):
        self.started_units, self.results = [], []

    def planned(self, actions):
        self.planned_ids = [a.id for a in actions]

    def started(self, actions):
        self.started_units.append([a.id for a in actions])

    def finished(self, result):
        self.results.append(result)


@pytest.fixture
def ws(tmp_path):
    ws = GitWorkspace(tmp_path / "ws")
    ws.write(
        {
            "a/BUILD": 'fake_target(provides=["s:a"])',
            "a/a.txt": "PRINT hello from a",
            "b/BUILD": 'fake_target(provides=["s:b"], requires=["s:a"])',
            "b/b.txt": "SLEEP 0.2",
            "c/BUILD": 'fake_target(requires=["s:b"])',
            "c/c.txt": "fine",
        }
    )
    ws.commit()
    return ws


def run(ws, *patterns, **options):
    events = Events()
    request_args = {k: options.pop(k) for k in ("since", "shard") if k in options}
    with ws.session(registry=REGISTRY) as session:
        result = run_tests(session, TestRequest(patterns or ("//...",), options=RunOptions(**options), **request_args), events)
    return result, events


def by_target(run_result):
    return {str(r.action.label): r for r in run_result.results}


def test_runs_in_dependency_order_then_replays_from_cache(ws):
    first, events = run(ws, jobs=2)
    assert first.is_success and first.count("passed") == 3 and first.cached == 0
    results = by_target(first)
    start = {k: float(re.search(r"start=([\d.]+)", r.outcome.log)[1]) for k, r in results.items()}
    end = {k: float(re.search(r"end=([\d.]+)", r.outcome.log)[1]) for k, r in results.items()}
    assert end["//a:a"] <= start["//b:b"] and end["//b:b"] <= start["//c:c"]
    assert "hello from a" in results["//a:a"].outcome.log  # printed output is captured into the log
    second, _ = run(ws, jobs=2)
    assert second.cached == 3 and all(r.outcome.status == "passed" for r in second.results)
    assert by_target(second)["//a:a"].outcome.log == results["//a:a"].outcome.log
    assert second.time_saved_s > 0
    third, _ = run(ws, jobs=2, use_cache=False)
    assert third.cached == 0


def test_one_worker_process_serves_many_actions(ws):
    result, _ = run(ws, jobs=1)
    pids = {re.search(r"pid=(\d+)", r.outcome.log)[1] for r in result.results}
    assert len(pids) == 1 and result.workers_started == {"fake": 1}


def test_a_change_reruns_the_target_and_its_dependents_only(ws):
    run(ws)
    ws.write({"b/b.txt": "SLEEP 0.01"})
    result, _ = run(ws)
    assert {k for k, r in by_target(result).items() if not r.is_cached} == {"//b:b", "//c:c"}


def test_failures_are_reported_not_cached_and_fail_fast(ws):
    ws.write({"a/a.txt": "FAIL broken on purpose"})
    result, _ = run(ws, jobs=1)
    results = by_target(result)
    assert not result.is_success
    assert results["//a:a"].outcome.summary == "a/a.txt: broken on purpose"
    assert results["//c:c"].outcome.status == "skipped" and "stopped after the first failure" in results["//c:c"].outcome.summary
    again, _ = run(ws, jobs=1)
    assert by_target(again)["//a:a"].is_cached is False and by_target(again)["//a:a"].outcome.status == "failed"


def test_keep_going_runs_everything(ws):
    ws.write({"a/a.txt": "FAIL broken on purpose"})
    result, _ = run(ws, jobs=1, keep_going=True)
    assert [r.outcome.status for r in result.results] == ["failed", "passed", "passed"]
    assert not result.is_success


def test_timeout_stops_the_worker_and_the_run_goes_on(ws):
    ws.write({"b/b.txt": "SLEEP 30", "b/BUILD": 'fake_target(provides=["s:b"], requires=["s:a"], timeout=1)'})
    result, _ = run(ws, jobs=2, keep_going=True)
    b = by_target(result)["//b:b"]
    assert b.outcome.status == "failed" and "timed out after 1 s" in b.outcome.summary
    assert by_target(result)["//c:c"].outcome.status == "passed"


def test_a_crashing_handler_fails_its_action_with_the_traceback(ws):
    ws.write({"c/c.txt": "CRASH"})
    result, _ = run(ws, keep_going=True)
    c = by_target(result)["//c:c"]
    assert c.outcome.status == "failed" and "RuntimeError" in c.outcome.summary and "Traceback" in c.outcome.log


def test_batched_actions_go_to_one_call(tmp_path):
    ws = GitWorkspace(tmp_path / "ws")
    ws.write({f"p{i}/BUILD": 'fake_target(batch="all")' for i in range(4)} | {f"p{i}/x.txt": "ok" for i in range(4)})
    ws.commit()
    result, events = run(ws, jobs=2)
    assert len(events.started_units) == 1 and len(events.started_units[0]) == 4
    assert all("batch=4" in r.outcome.log for r in result.results)


def test_corrupt_cache_entries_are_misses_and_counted(ws):
    run(ws)
    entries = sorted((ws.root / "cache" / "actions" / "ac").rglob("*.json"))
    entries = [e for e in entries if not json.loads(e.read_text())["action"].endswith("#tested")]  # verdicts apart
    assert len(entries) == 3
    entries[0].write_text(entries[0].read_text().replace('"passed"', '"passed "'))
    blob_dir = ws.root / "cache" / "actions" / "cas"
    body = json.loads(entries[1].read_text())
    (blob_dir / body["log"][:2] / body["log"]).write_text("tampered")
    missing = json.loads(entries[2].read_text())
    (blob_dir / missing["log"][:2] / missing["log"]).unlink()
    result, _ = run(ws)
    assert result.cached == 1 and result.corrupt_entries == 2 and result.is_success  # corrupt result, missing log
    # a log is verified when it is read, not on every hit: reading the tampered one finds it and drops the result
    tampered = next(r for r in result.results if r.action.id == body["action"])
    assert tampered.is_cached and "missing or corrupt" in tampered.outcome.log and "tampered" not in tampered.outcome.log
    again, _ = run(ws)
    rerun = next(r for r in again.results if r.action.id == body["action"])
    assert not rerun.is_cached and rerun.outcome.status == "passed" and again.corrupt_entries == 0


def test_the_cache_is_bounded(ws):
    ws.write({"graphbuild.toml": "[cache]\nmax_size_mb = 1\n"})
    ws.commit()
    for i in range(3):
        ws.write({"a/a.txt": "PRINT " + "x" * 400_000 + str(i)})
        run(ws)
    size = sum(p.stat().st_size for p in (ws.root / "cache" / "actions").rglob("*") if p.is_file())
    assert size <= 1024**2


def test_since_selects_only_affected_targets(ws):
    ws.write({"c/c.txt": "changed"})
    result, events = run(ws, since="HEAD")
    assert [str(r.action.label) for r in result.results] == ["//c:c"]
    assert events.planned_ids == ["//c:c#check"]  # progress counts what will run, not every selected target


def test_junit_report(ws, tmp_path):
    ws.write({"a/a.txt": "FAIL broken"})
    result, _ = run(ws, keep_going=True)
    path = tmp_path / "junit.xml"
    write_junit(path, result.results)
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "1"
    failed = [c for c in suite.findall("testcase") if c.find("failure") is not None]
    assert failed[0].get("classname") == "//a:a" and failed[0].find("failure").get("message") == "a/a.txt: broken"


def test_shards_partition_the_actions(ws):
    ids = set()
    for k in (1, 2, 3):
        result, _ = run(ws, shard=(k, 3))
        ids |= {r.action.id for r in result.results}
    assert ids == {"//a:a#check", "//b:b#check", "//c:c#check"}


@given(
    st.lists(st.text("abcdef", min_size=1, max_size=6), unique=True, max_size=40),
    st.integers(min_value=1, max_value=6),
    st.dictionaries(st.text("abcdef", min_size=1, max_size=6), st.floats(min_value=0, max_value=100), max_size=20),
)
def test_sharding_is_a_deterministic_balanced_partition(ids, n, durations):
    shards = assign(ids, n, durations)
    assert shards == assign(list(reversed(ids)), n, durations)
    flat = [i for shard in shards for i in shard]
    assert sorted(flat) == sorted(ids) and len(flat) == len(set(flat))
    known = [durations[i] for i in ids if i in durations]
    default = sum(known) / len(known) if known else 1.0
    loads = [sum(durations.get(i, default) for i in shard) for shard in shards]
    longest = max((durations.get(i, default) for i in ids), default=0)
    assert max(loads) - min(loads) <= longest + 1e-9


def test_inputs_changing_during_a_run_are_not_cached(ws):
    # b's handler edits a's file while it runs (through a helper file the fake handler cannot write),
    # so we simulate it: change a file after the fingerprints were taken, before results are stored.
    with ws.session(registry=REGISTRY) as session:
        session.fingerprinted()
        ws.write({"a/a.txt": "PRINT changed meanwhile"})
        result = run_tests(session, TestRequest(("//...",)), Events())
    assert result.is_success
    stored = list((ws.root / "cache" / "actions" / "ac").rglob("*.json"))
    assert stored == []  # a changed: a, b and c all depend on it


def test_artifacts_are_content_addressed_and_replayed(ws):
    import hashlib

    ws.write({"c/c.txt": "ARTIFACT package bytes"})
    first, _ = run(ws)
    artifact = by_target(first)["//c:c"].outcome.artifacts["artifact0"]
    assert artifact == "sha256:" + hashlib.sha256(b"package bytes").hexdigest()
    second, _ = run(ws)
    assert by_target(second)["//c:c"].is_cached and by_target(second)["//c:c"].outcome.artifacts["artifact0"] == artifact
    digest = artifact.removeprefix("sha256:")
    (ws.root / "cache" / "actions" / "cas" / digest[:2] / digest).unlink()
    third, _ = run(ws)
    assert not by_target(third)["//c:c"].is_cached  # a hit needs every referenced blob


def test_a_passing_run_records_verdicts_and_a_no_op_run_rewrites_nothing(ws):
    run(ws)
    results = sorted((ws.root / "cache" / "actions" / "ac").rglob("*.json"))
    verdicts = [p for p in results if json.loads(p.read_text())["action"].endswith("#tested")]
    assert len(verdicts) == 3  # one per target whose checks all passed
    before = {p: p.stat().st_ino for p in results}  # a rewrite (temp file, rename) is a new inode
    again, _ = run(ws)
    assert again.cached == 3
    assert {p: p.stat().st_ino for p in results} == before


def test_drill_an_artifact_that_is_a_symlink_is_refused_never_stored(tmp_path):
    """Drill (item 8): an artifact path that is a link (to /proc/self/environ, say) or leaves the workspace
    fails the action; the linked file's bytes never reach the content-addressed store."""
    from graphbuild.run.action import Outcome
    from graphbuild.run.scheduler import _ingest
    from graphbuild.values import freeze

    marker = b"FAKE-SECRET-MARKER-91b2"
    (tmp_path / "environ").write_bytes(marker)
    root = tmp_path / "ws"
    (root / "out").mkdir(parents=True)
    (root / "out" / "ok.zip").write_bytes(b"zip")
    (root / "out" / "pkg.zip").symlink_to(tmp_path / "environ")
    (tmp_path / "scratch.zip").symlink_to(tmp_path / "environ")
    stored: list[bytes] = []

    def store(data: bytes) -> str:
        stored.append(data)
        return "0" * 64

    passed = _ingest(Outcome("passed", "ok", "", freeze({"package": "out/ok.zip"})), root, store)
    assert passed.status == "passed" and stored == [b"zip"]
    attacks = ["out/pkg.zip", str(tmp_path / "scratch.zip"), "../environ"]
    for location in attacks:
        outcome = _ingest(Outcome("passed", "ok", "", freeze({"package": location})), root, store)
        assert outcome.status == "failed" and "artifact 'package'" in outcome.summary, location
    assert stored == [b"zip"], f"{sum(marker in s for s in stored)} of {len(attacks)} linked artifacts stored"
