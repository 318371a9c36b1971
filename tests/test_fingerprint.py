"""Fingerprint and affected-set invariants, on generated graphs of fake targets."""

import json
import random
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from graphbuild.changes import compare
from graphbuild.fingerprint import fingerprint_graph
from graphbuild.testing import FakeRule, MemorySnapshot, Registry, Settings, build_graph

REGISTRY = Registry([FakeRule()])


@st.composite
def workspaces(draw):
    """A random DAG of fake targets: target i may require any j < i; each owns a text file."""
    n = draw(st.integers(min_value=1, max_value=9))
    files = {}
    for i in range(n):
        reqs = sorted(draw(st.sets(st.integers(min_value=0, max_value=max(i - 1, 0)), max_size=3))) if i else []
        requires = ", ".join(f'"s:{j}"' for j in reqs)
        files[f"p{i}/BUILD"] = f'fake_target(provides=["s:{i}"], requires=[{requires}], description="t{i}")\n'
        files[f"p{i}/a.txt"] = " ".join(draw(st.lists(st.sampled_from(["amount", "fee", "ts", "id"]), min_size=1, max_size=4)))
    return files


def fingerprints(files, order_seed=0):
    items = list(files.items())
    random.Random(order_seed).shuffle(items)
    snapshot = MemorySnapshot(dict(items))
    graph = build_graph(snapshot, Settings(), REGISTRY)
    return fingerprint_graph(graph, snapshot, Settings(), REGISTRY)


@given(workspaces(), st.integers(min_value=0, max_value=1000))
def test_fingerprints_do_not_depend_on_file_order(files, seed):
    first = fingerprints(files, 0)
    second = fingerprints(files, seed)
    assert {k: v.fingerprint for k, v in first.states.items()} == {k: v.fingerprint for k, v in second.states.items()}


@settings(max_examples=150)
@given(workspaces(), st.data())
def test_affected_is_exactly_the_changed_fingerprints_closed_under_dependents(files, data):
    base = fingerprints(files)
    head_files = dict(files)
    packages = sorted({p.split("/")[0] for p in files})
    real = data.draw(st.sets(st.sampled_from(packages), max_size=3))
    cosmetic = data.draw(st.sets(st.sampled_from(packages), max_size=3)) - real
    described = data.draw(st.sets(st.sampled_from(packages), max_size=2))
    for package in real:
        head_files[f"{package}/a.txt"] += " changed"
    for package in cosmetic:  # whitespace only: normalises away
        head_files[f"{package}/a.txt"] = "  " + head_files[f"{package}/a.txt"].replace(" ", "\n\t ") + "\n"
    for package in described:  # metadata only
        head_files[f"{package}/BUILD"] = head_files[f"{package}/BUILD"].replace('description="', 'description="new ')
    head = fingerprints(head_files)
    changes = compare(base, head)

    changed_fp = {label for label in head.states if head.states[label].fingerprint.data != base.states[label].fingerprint.data}
    assert set(changes.affected) == changed_fp
    direct = {label for label in head.states if label.package in real}
    assert set(changes.affected) == set(head.graph.transitive_rdeps(direct))
    for label in changes.affected:
        assert set(head.graph.rdeps[label]) <= set(changes.affected)
        reason = changes.reasons[label]
        assert reason.text()
        if label in direct:
            assert reason.kind == "changed" and reason.files == (f"{label.package}/a.txt",)
        else:
            assert reason.kind == "dependency" and reason.path[0] == label and reason.path[-1] in direct
    expected_metadata = {label for label in head.states if label.package in described} - set(changes.affected)
    assert set(changes.metadata_only) == expected_metadata


def test_fingerprints_are_identical_across_processes(mini):
    code = (
        "import json, sys\n"
        "from graphbuild.testing import GitWorkspace\n"
        "ws = GitWorkspace(sys.argv[1])\n"
        "with ws.session(use_cache=False) as s:\n"
        "    fp = s.fingerprinted()\n"
        "    print(json.dumps({str(k): [v.fingerprint.data, v.fingerprint.metadata] for k, v in fp.states.items()}))\n"
    )
    runs = []
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", code, str(mini.root)],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin", "HOME": str(mini.root)},
        )
        runs.append(json.loads(done.stdout))
    assert runs[0] == runs[1]
    assert len(runs[0]) > 20
