"""A derived graph and its fingerprints equal the ones built from scratch, for any edit.

``build_graph(..., previous=, delta=)`` re-expands only stale BUILD files and re-links only what moved;
``fingerprint_graph(..., previous=, delta=)`` recomputes only dirty targets; ``RevisionStore`` keeps
fingerprinted revisions across processes; ``Session`` derives a revision from the nearest known one.
Every test here holds the derived result equal to a from-scratch build of the same files.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from graphbuild.changes import compare
from graphbuild.errors import GraphbuildError
from graphbuild.fingerprint import Fingerprinted, fingerprint_graph
from graphbuild.graph import build_graph, is_ignored
from graphbuild.labels import Label
from graphbuild.revisions import KEEP, RevisionStore
from graphbuild.rule import Digest, Field, Origin, Registry, Requirement, TargetType
from graphbuild.sources import Delta, FactCache
from graphbuild.testing import FakeRule, GitWorkspace, MemorySnapshot
from graphbuild.workspace import Settings, Workspace, WorkspaceSettings
from tests.conftest import REPO_ROOT


# ---------------------------------------------------------------------------------------------------------------
# the invariant


def scratch(files: dict[str, str | bytes], settings: Settings, registry: Registry, cache: FactCache) -> Fingerprinted:
    snapshot = MemorySnapshot(files, cache=cache)
    graph = build_graph(snapshot, settings, registry)
    return fingerprint_graph(graph, snapshot, settings, registry)


def derive(
    previous: Fingerprinted,
    files: dict[str, str | bytes],
    settings: Settings,
    registry: Registry,
    cache: FactCache,
    memo: dict | None = None,
) -> Fingerprinted:
    assert previous.snapshot is not None
    snapshot = MemorySnapshot(files, cache=cache)
    delta = Delta.between(previous.snapshot.blob_map(), snapshot.blob_map())
    graph = build_graph(snapshot, settings, registry, previous=previous.graph, delta=delta)
    return fingerprint_graph(graph, snapshot, settings, registry, memo=memo, previous=previous, delta=delta)


def outcome(make):
    """``make()``'s result, or the GraphbuildError it raised."""
    try:
        return make()
    except GraphbuildError as exc:
        return exc


def assert_same(derived: Fingerprinted, built: Fingerprinted) -> None:
    """The derived revision is the one built from scratch: graph, fingerprints and their inputs."""
    d, s = derived.graph, built.graph
    assert list(d.targets) == list(s.targets)
    assert dict(d.targets) == dict(s.targets)
    assert dict(d.deps) == dict(s.deps)
    assert dict(d.rdeps) == dict(s.rdeps)
    assert dict(d.owners) == dict(s.owners)
    assert dict(d.providers) == dict(s.providers)
    assert dict(d.requirers) == dict(s.requirers)
    assert d.order == s.order
    assert d.build_files == s.build_files
    assert dict(d.expansions) == dict(s.expansions)
    assert (dict(d.reads.readers), dict(d.reads.listings)) == (dict(s.reads.readers), dict(s.reads.listings))
    assert derived.globals == built.globals
    assert list(derived.states) == list(built.states)
    assert dict(derived.fingerprints) == dict(built.fingerprints)
    for label, state in built.states.items():
        mine = derived.states[label]
        assert mine.fingerprint == state.fingerprint, label
        assert (mine.own, dict(mine.blobs), mine.inputs) == (state.own, dict(state.blobs), state.inputs), label
        assert (mine.target, mine.digest) == (state.target, state.digest), label


def assert_same_error(derived: object, built: GraphbuildError) -> None:
    """The derived build fails as the build from scratch does: the same error type and message (a label declared
    twice names the same two places, in either order: see the test of that below)."""
    assert isinstance(derived, GraphbuildError), f"scratch raised {built!r}, the derived build gave a graph"
    assert type(derived) is type(built), (derived, built)
    if _duplicate(built) is not None:
        assert _duplicate(derived) == _duplicate(built), (str(derived), str(built))
    else:
        assert str(derived) == str(built)


def _duplicate(error: object) -> tuple[str, frozenset[str]] | None:
    """A label declared twice: the label and the two places."""
    found = re.fullmatch(r"target (\S+) is declared twice \(first at (\S+)\)", getattr(error, "message", ""))
    if found is None:
        return None
    return found[1], frozenset({f"{error.file}:{error.line}", found[2]})  # type: ignore[attr-defined]


def assert_identity_kept(derived: Fingerprinted, previous: Fingerprinted) -> None:
    """A target equal to the previous revision's is that very object (later stages compare by identity)."""
    for label, target in derived.graph.targets.items():
        before = previous.graph.targets.get(label)
        if before is not None and before == target:
            assert target is before, label


# ---------------------------------------------------------------------------------------------------------------
# 1. random workspaces of fake targets and random edits



class ProbeRule:
    """``probe_target(manifest="MANIFEST", provides=[...])``: reads what the fake rule never does.

    Its manifest (a file of its package, maybe absent) lists, one per line: ``src <path>`` (a source
    anywhere in the workspace, if present), ``any <suffix>`` (every path ending so: the whole file list),
    ``req <symbol>`` and ``check <symbol>`` (a check-only requirement). Its digest is its sources' text,
    and the check-only symbols as a private aspect.
    """

    name = "probe"
    version = "1"
    target_types = (
        TargetType("probe_target", fields=(Field("manifest", str, "MANIFEST"), Field("provides", tuple, ()))),
    )

    def expand(self, declaration, values, ctx):
        manifest = "/".join(p for p in (declaration.package, values["manifest"]) if p)
        sources, requires = [], []
        if ctx.snapshot.blob_id(manifest) is not None:
            for number, line in enumerate(ctx.snapshot.read(manifest).decode().splitlines(), start=1):
                word, _, arg = line.strip().partition(" ")
                origin = Origin(manifest, number, f"{word} {arg}")
                if word == "src" and ctx.snapshot.blob_id(arg) is not None:
                    sources.append(arg)
                elif word == "any":
                    sources += [p for p in ctx.snapshot.paths() if p.endswith(arg)]
                elif word in ("req", "check"):
                    requires.append(Requirement(arg, origin, is_check_only=word == "check"))
        yield ctx.target(
            declaration,
            values,
            rule=self.name,
            kind="probe_target",
            sources=sources,
            provides=values["provides"],
            requires=requires,
        )

    def digest(self, target, ctx):
        text = {p: " ".join(ctx.snapshot.read(p).decode().split()) for p in target.sources}
        checks = sorted(r.symbol for r in target.requires if r.is_check_only)
        return Digest.of({"text": text}, {"sources": len(text)}, {"checks": checks} if checks else None)


FAKE = Registry([FakeRule(), ProbeRule()])
FAKE_SETTINGS = Settings(workspace=WorkspaceSettings(global_inputs=("constraints.txt",), ignore=("ign/**",)))


PACKAGES = ("", "a", "a/b", "c", "c/d", "lib", "ign")  # "": the root package; ign/** is ignored by the settings
TEXT_PATHS = (
    "1.txt", "a/1.txt", "a/2.txt", "a/sub/3.txt", "a/b/4.txt", "a/b/5.md", "c/6.txt", "c/d/7.txt", "c/d/e/8.txt",
    "lib/9.txt", "ign/10.txt",
)  # fmt: skip
CONTENTS = ("alpha", "alpha  ", " alpha\n", "beta", "beta gamma", "beta\tgamma\n")  # some differ only in whitespace
NAMES = ("t", "u", "v", None)  # None: the package's default name
GLOBS = (("*.txt",), ("**/*.txt",), ("sub/*.txt",), ("**/*",), ("**/*.txt", "!sub/**"), ("*.md", "b/*.txt"), ("e/**",), ())
SYMBOLS = ("sym:a", "sym:b", "sym:c")  # the library provides these
LOCAL_SYMBOLS = ("sym:d", "sym:e")  # and other targets these
FILE_SYMBOLS = ("file:a/1.txt", "file:a", "file:a/b", "file:c/d", "file:c/6.txt", "file:ign", "file:lib/9.txt")
DEPENDENCIES = ("//a:t", "//c", "//a/b:u", ":v", "//lib")
LIBRARY = "lib/BUILD"  # every start holds one target providing every symbol: most requirements resolve


@dataclass(frozen=True)
class Spec:
    name: str | None = None
    sources: tuple[str, ...] | None = None  # None: the rule's default ("*.txt")
    provides: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()

    def render(self) -> str:
        args = [f"name={self.name!r}"] if self.name else []
        if self.sources is not None:
            args.append(f"sources={list(self.sources)!r}")
        for key in ("provides", "requires", "optional", "dependencies"):
            if getattr(self, key):
                args.append(f"{key}={list(getattr(self, key))!r}")
        return f"fake_target({', '.join(args)})\n"


@dataclass(frozen=True)
class Probe:
    name: str | None = None
    manifest: str = "MANIFEST"
    provides: tuple[str, ...] = ()

    def render(self) -> str:
        args = [f"name={self.name!r}"] if self.name else []
        args += [f"manifest={self.manifest!r}"] if self.manifest != "MANIFEST" else []
        args += [f"provides={list(self.provides)!r}"] if self.provides else []
        return f"probe_target({', '.join(args)})\n"


MANIFESTS = ("MANIFEST", "a/MANIFEST", "a/sub/M", "a/b/MANIFEST", "c/MANIFEST", "c/d/MANIFEST", "c/sub/M")
SAFE_LINES = (
    "src a/1.txt", "src c/6.txt", "src a/b/5.md", "src lib/BUILD", "src c/none.txt", "any .md", "req sym:a", "check sym:b",
    "check sym:c",
)  # fmt: skip
LINES = (
    *SAFE_LINES, "src c/d/7.txt", "any 7.txt", "req sym:d", "check sym:d", "check sym:e", "req file:c", "req file:a/1.txt",
)  # fmt: skip


@dataclass
class Model:
    """A workspace: BUILD files as target specs (plus a header that shifts their lines), and plain files."""

    builds: dict[str, list[Spec | Probe]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    def files(self) -> dict[str, str]:
        out = dict(self.texts)
        for path, specs in self.builds.items():
            out[path] = self.headers.get(path, "") + "".join(spec.render() for spec in specs)
        return out

    def copy(self) -> Model:
        return Model({k: list(v) for k, v in self.builds.items()}, dict(self.headers), dict(self.texts))


def build_path(package: str, alt: bool) -> str:
    name = "BUILD.graphbuild" if alt else "BUILD"
    return f"{package}/{name}" if package else name


def subsets(pool: tuple[str, ...], n: int = 2) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(st.sampled_from(pool), max_size=n, unique=True).map(tuple)


requirements = st.one_of(st.just(()), subsets(SYMBOLS, 1), subsets(SYMBOLS + LOCAL_SYMBOLS), subsets(FILE_SYMBOLS, 1))
provisions = st.one_of(subsets(SYMBOLS + LOCAL_SYMBOLS), subsets(FILE_SYMBOLS, 1))
specs = st.builds(
    Spec,
    name=st.sampled_from(NAMES),
    sources=st.one_of(st.none(), st.sampled_from(GLOBS)),
    provides=provisions,
    requires=requirements,
    optional=subsets(SYMBOLS + LOCAL_SYMBOLS + FILE_SYMBOLS + ("sym:none",)),
    dependencies=st.one_of(st.just(()), st.just(()), st.just(()), subsets(DEPENDENCIES, 1)),
)
# the targets a workspace starts with: what they require is the library's (no cycle, nothing unresolved)
start_specs = st.builds(
    Spec,
    name=st.sampled_from(NAMES),
    sources=st.one_of(st.none(), st.sampled_from(GLOBS)),
    provides=st.one_of(subsets(LOCAL_SYMBOLS), subsets(FILE_SYMBOLS, 1)),
    requires=st.one_of(st.just(()), subsets(SYMBOLS), st.just(("file:lib/9.txt",)), st.just(("file:lib", "sym:a"))),
    optional=subsets(SYMBOLS + LOCAL_SYMBOLS + FILE_SYMBOLS + ("sym:none",)),
    dependencies=st.one_of(st.just(()), st.just(("//lib",))),
)
probes = st.builds(
    Probe,
    name=st.sampled_from(("p", "q", None)),
    manifest=st.sampled_from(("MANIFEST", "sub/M")),
    provides=st.one_of(subsets(LOCAL_SYMBOLS, 1), st.just(())),
)
start_probes = st.builds(Probe, name=st.sampled_from(("p", "q")), manifest=st.sampled_from(("MANIFEST", "sub/M")))
manifests = st.lists(st.sampled_from(LINES), max_size=5).map(lambda lines: "".join(f"{line}\n" for line in lines))
start_manifests = st.lists(st.sampled_from(SAFE_LINES), min_size=1, max_size=4).map(
    lambda lines: "".join(f"{line}\n" for line in lines)
)
build_files = st.tuples(st.sampled_from(PACKAGES), st.sampled_from((False, False, False, True))).map(
    lambda key: build_path(*key)
)
library = Spec(name="lib", provides=SYMBOLS)

models = st.builds(
    lambda builds, texts, constraints: Model(
        builds={LIBRARY: [library], **{build_path(package, alt): specs for package, (alt, specs) in builds.items()}},
        texts={**texts, "lib/9.txt": "library", "constraints.txt": constraints},
    ),
    builds=st.dictionaries(
        st.sampled_from(tuple(p for p in PACKAGES if p != "lib")),
        st.tuples(
            st.sampled_from((False, False, False, True)),
            st.lists(st.one_of(start_specs, start_probes), min_size=1, max_size=4, unique_by=lambda spec: spec.name),
        ),  # names clash only by an edit
        min_size=3,
        max_size=6,
    ),
    texts=st.tuples(
        st.dictionaries(st.sampled_from(TEXT_PATHS), st.sampled_from(CONTENTS), min_size=4, max_size=10),
        st.dictionaries(st.sampled_from(MANIFESTS), start_manifests, min_size=2, max_size=5),
    ).map(lambda pair: {**pair[0], **pair[1]}),
    constraints=st.sampled_from(("pandas==2.2\n", "# pinned\npandas==2.2\n")),
)

edits = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(TEXT_PATHS), st.sampled_from(CONTENTS)),  # add, or modify
    st.tuples(st.just("remove"), st.integers(0, 99)),
    st.tuples(st.just("move"), st.integers(0, 99), st.sampled_from(TEXT_PATHS)),
    st.tuples(st.just("add target"), build_files, st.one_of(specs, probes)),
    st.tuples(st.just("write"), st.sampled_from(MANIFESTS), manifests),
    st.tuples(st.just("remove target"), st.integers(0, 99)),
    st.tuples(st.just("rename target"), st.integers(0, 99), st.sampled_from((*NAMES, "bad name"))),  # a RuleError
    st.tuples(st.just("requires"), st.integers(0, 99), requirements),
    st.tuples(st.just("provides"), st.integers(0, 99), provisions),
    st.tuples(st.just("optional"), st.integers(0, 99), subsets(SYMBOLS + LOCAL_SYMBOLS + FILE_SYMBOLS)),
    st.tuples(st.just("dependencies"), st.integers(0, 99), subsets(DEPENDENCIES, 1)),
    st.tuples(st.just("sources"), st.integers(0, 99), st.one_of(st.none(), st.sampled_from(GLOBS))),
    st.tuples(st.just("header"), st.integers(0, 99), st.sampled_from(("", "# owners: data\n", "\n\n", "x = 1\n"))),
    st.tuples(st.just("delete BUILD"), st.integers(0, 99)),
    st.tuples(st.just("constraints"), st.sampled_from(("pandas==2.2\n", "# pinned\npandas==2.2\n", "pandas==2.3\n"))),
)


def apply(model: Model, edit: tuple) -> None:
    """Apply one edit; indices pick among what exists (modulo), an edit with nothing to act on does nothing."""
    kind = edit[0]
    slots = [(path, i) for path in sorted(model.builds) for i in range(len(model.builds[path]))]
    files = sorted(p for p in model.texts if p != "constraints.txt")
    if kind == "write":
        model.texts[edit[1]] = edit[2]
    elif kind in ("remove", "move") and files:
        path = files[edit[1] % len(files)]
        content = model.texts.pop(path)
        if kind == "move":
            model.texts[edit[2]] = content
    elif kind == "add target":
        model.builds.setdefault(edit[1], []).append(edit[2])
    elif kind == "constraints":
        model.texts["constraints.txt"] = edit[1]
    elif kind in ("header", "delete BUILD"):
        if model.builds:
            path = sorted(model.builds)[edit[1] % len(model.builds)]
            if kind == "header":
                model.headers[path] = edit[2]
            else:
                del model.builds[path]
    elif kind in ("remove target", "rename target", "requires", "provides", "optional", "dependencies", "sources") and slots:
        path, i = slots[edit[1] % len(slots)]
        if kind == "remove target":
            del model.builds[path][i]
        elif kind == "rename target":
            model.builds[path][i] = replace(model.builds[path][i], name=edit[2])
        elif hasattr(model.builds[path][i], kind):  # a probe has no requires, sources, ...
            model.builds[path][i] = replace(model.builds[path][i], **{kind: edit[2]})


def _workspace(**builds: list[Spec]) -> Model:
    return Model(
        builds={LIBRARY: [library], **{f"{package}/BUILD": specs for package, specs in builds.items()}},
        texts={"lib/9.txt": "library", "constraints.txt": "pandas==2.2\n"},
    )


@settings(
    max_examples=100, deadline=None, report_multiple_bugs=False, suppress_health_check=[HealthCheck.too_slow]
)
@given(start=models, steps=st.lists(edits, min_size=4, max_size=12))
@example(  # see test_an_expansion_error_is_reported_before_a_label_declared_twice
    start=_workspace(a=[Spec(name="t")], b=[Spec(name="u")]),
    steps=[("add target", "a/BUILD.graphbuild", Spec(name="t")), ("rename target", 2, "bad name"), ("header", 0, "\n\n")],
)
@example(  # see test_of_two_labels_declared_twice_the_first_in_path_order_is_reported
    start=_workspace(a=[Spec(name="t")], c=[Spec(name="u")]),
    steps=[("add target", "a/BUILD.graphbuild", Spec(name="t")), ("add target", "c/BUILD", Spec(name="u"))],
)
def test_derived_graph_and_fingerprints_equal_a_build_from_scratch(start: Model, steps: list[tuple]) -> None:
    start = start.copy()  # edited in place; hypothesis keeps the drawn value for its report
    cache = FactCache(None)
    memo: dict = {}
    first = outcome(lambda: scratch(start.files(), FAKE_SETTINGS, FAKE, cache))
    base = last = first if isinstance(first, Fingerprinted) else None
    for edit in steps:
        apply(start, edit)
        files = start.files()
        built = outcome(lambda: scratch(files, FAKE_SETTINGS, FAKE, cache))
        if last is None:  # nothing valid to derive from yet
            last = base = built if isinstance(built, Fingerprinted) else None
            continue
        derived = outcome(lambda: derive(last, files, FAKE_SETTINGS, FAKE, cache, memo))
        if isinstance(built, GraphbuildError):
            assert_same_error(derived, built)
            continue  # the next revision derives from the last valid one, over a larger delta
        assert not isinstance(derived, GraphbuildError), f"the derived build raised {derived!r}; scratch did not"
        assert_same(derived, built)
        assert_identity_kept(derived, last)
        last = derived
    if base is not None and last is not base:  # the whole sequence as one delta, from the first valid revision
        assert last.snapshot is not None
        files = {p: last.snapshot.read(p) for p in last.snapshot.paths()}
        assert_same(derive(base, files, FAKE_SETTINGS, FAKE, cache), scratch(files, FAKE_SETTINGS, FAKE, cache))


def test_a_target_equal_to_the_previous_one_keeps_its_identity_and_state():
    cache = FactCache(None)
    files = {
        "a/BUILD": 'fake_target(provides=["sym:a"])\n',
        "a/1.txt": "alpha",
        "c/BUILD": 'fake_target(requires=["sym:a"])\nfake_target(name="u", sources=["d/*.txt"])\n',
        "c/6.txt": "six",
        "c/d/7.txt": "seven",
    }
    before = scratch(files, FAKE_SETTINGS, FAKE, cache)
    after = derive(before, {**files, "c/d/7.txt": "seven, edited"}, FAKE_SETTINGS, FAKE, cache)
    a, c, u = Label("a", "a"), Label("c", "c"), Label("c", "u")
    assert all(after.graph.targets[label] is before.graph.targets[label] for label in (a, c, u))
    assert after.states[a] is before.states[a] and after.states[c] is before.states[c]
    assert after.fingerprint(u).data != before.fingerprint(u).data
    assert_same(after, scratch({**files, "c/d/7.txt": "seven, edited"}, FAKE_SETTINGS, FAKE, cache))


def _both_errors(before: dict[str, str], after: dict[str, str]) -> tuple[GraphbuildError, GraphbuildError]:
    """``after`` built from scratch, and derived from ``before``: both must fail."""
    cache = FactCache(None)
    built = outcome(lambda: scratch(after, FAKE_SETTINGS, FAKE, cache))
    derived = outcome(lambda: derive(scratch(before, FAKE_SETTINGS, FAKE, cache), after, FAKE_SETTINGS, FAKE, cache))
    assert isinstance(built, GraphbuildError) and isinstance(derived, GraphbuildError), (built, derived)
    return derived, built


def test_a_label_declared_twice_is_reported_where_a_build_from_scratch_reports_it():
    """Scratch names the later declaration (BUILD files in path order), "first at" the earlier one."""
    derived, built = _both_errors(
        {"BUILD.graphbuild": 'fake_target(name="t")\n'},
        {"BUILD.graphbuild": 'fake_target(name="t")\n', "BUILD": 'fake_target(name="t")\n'},
    )
    assert (type(derived), derived.file, derived.line, str(derived)) == (type(built), built.file, built.line, str(built))


def test_an_expansion_error_is_reported_before_a_label_declared_twice():
    """Scratch expands every BUILD file before it looks for labels declared twice: b/BUILD's RuleError comes first.
    A derived build looks for duplicates while it expands the stale files (sorted), so a/BUILD + a/BUILD.graphbuild's
    duplicate is raised before b/BUILD is expanded: another error type than scratch's."""
    derived, built = _both_errors(
        {"a/BUILD": 'fake_target(name="t")\n', "b/BUILD": 'fake_target(name="u")\n'},
        {
            "a/BUILD": '\nfake_target(name="t")\n',  # stale (changed), as is the new a/BUILD.graphbuild
            "a/BUILD.graphbuild": 'fake_target(name="t")\n',
            "b/BUILD": 'fake_target(name="bad name")\n',  # RuleError: cannot name a target 'bad name'
        },
    )
    assert type(built).__name__ == "RuleError"
    assert (type(derived), str(derived)) == (type(built), str(built))


def test_of_two_labels_declared_twice_the_first_in_path_order_is_reported():
    """Scratch meets //a:t's duplicate first (a/BUILD.graphbuild, path order); a derived build checks duplicates
    among the stale files first (c/BUILD declares //c:u twice), then against the kept targets (a/BUILD's //a:t)."""
    derived, built = _both_errors(
        {"a/BUILD": 'fake_target(name="t")\n', "c/BUILD": 'fake_target(name="u")\n'},
        {
            "a/BUILD": 'fake_target(name="t")\n',  # kept
            "a/BUILD.graphbuild": 'fake_target(name="t")\n',
            "c/BUILD": 'fake_target(name="u")\nfake_target(name="u")\n',
        },
    )
    assert str(built).startswith("a/BUILD.graphbuild:1: target //a:t is declared twice")
    assert str(derived) == str(built)


# ---------------------------------------------------------------------------------------------------------------
# 2. the FinSight platform in this repository, with the real rules


def _platform_files() -> tuple[dict[str, bytes], Settings]:
    settings = Workspace.load(REPO_ROOT).settings
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    files = {}
    for path in sorted(p for p in listed.decode().split("\0") if p):
        file = REPO_ROOT / path
        if file.is_file() and (path == "graphbuild.toml" or not is_ignored(path, settings)):
            files[path] = file.read_bytes()
    return files, settings


@pytest.fixture(scope="module")
def platform():
    files, settings = _platform_files()
    registry = Registry.from_entry_points()
    cache = FactCache(None)
    base = scratch(files, settings, registry, cache)
    kinds = Counter(t.kind for t in base.graph.targets.values())
    assert (kinds["airflow_dag"], kinds["dbt_model"], kinds["spark_job"], kinds["kafka_topic"]) == (120, 40, 15, 8)
    return files, settings, registry, cache, base


def _replace(files: dict[str, bytes], path: str, old: str, new: str) -> dict[str, bytes]:
    text = files[path].decode()
    assert old in text, (path, old)
    return {**files, path: text.replace(old, new, 1).encode()}


def _avro_field(files: dict[str, bytes], path: str) -> dict[str, bytes]:
    schema = json.loads(files[path])
    schema["fields"].append({"name": "ingest_note", "type": ["null", "string"], "default": None})
    return {**files, path: json.dumps(schema, indent=2).encode()}


def _new_dag(files: dict[str, bytes]) -> dict[str, bytes]:
    text = files["dags/dbt/dbt_aml_daily.py"].decode()
    new = text.replace('dag_id="dbt_aml_daily"', 'dag_id="aml_weekly_digest"')
    return {**files, "dags/reporting/aml_weekly_digest.py": new.encode()}


def _new_topic(files: dict[str, bytes]) -> dict[str, bytes]:
    folder = "kafka/topics/fx.rates.v1/"
    schema = json.loads(files[folder + "schema.avsc"])
    schema["name"] = "FxForwardRate"
    return {
        **files,
        "kafka/topics/fx.forwards.v1/schema.avsc": json.dumps(schema, indent=2).encode(),
        "kafka/topics/fx.forwards.v1/topic.toml": files[folder + "topic.toml"],
    }


def _new_library_module(files: dict[str, bytes]) -> dict[str, bytes]:
    edited = _replace(
        files,
        "spark/jobs/aml_features/main.py",
        "from finsight_spark.cli import batch_parser, require\n",
        "from finsight_spark.cli import batch_parser, require\nfrom finsight_spark.thresholds import CTR_USD\n",
    )
    return {**edited, "spark/lib/finsight_spark/thresholds.py": b'"""AML thresholds."""\n\nCTR_USD = 10_000\n'}


def _remove(files: dict[str, bytes], *paths: str) -> dict[str, bytes]:
    assert set(paths) <= set(files)
    return {p: c for p, c in files.items() if p not in paths}


@dataclass(frozen=True)
class PlatformEdit:
    make: Callable[[dict[str, bytes]], dict[str, bytes]]
    touched: tuple[str, ...]  # the folders (packages and below) whose BUILD files the edit may alter
    shows: str | None  # a label the edit must change directly, add, remove or change in metadata; "": nothing


DIM_MERCHANTS = "dbt/models/marts/payments/dim_merchants.sql"
BREAKS = "dbt model removed, its dependents kept"  # the one edit meant to break the graph
PLATFORM_EDITS = {
    "dbt model SQL body": PlatformEdit(
        lambda f: _replace(f, DIM_MERCHANTS, "max(volume_date)", "min(volume_date)"), ("dbt",), "//dbt:dim_merchants"
    ),
    "dbt model whitespace only": PlatformEdit(
        lambda f: _replace(f, DIM_MERCHANTS, "group by merchant_id", "group by   merchant_id\n"), ("dbt",), ""
    ),
    "dbt model gains a ref()": PlatformEdit(
        lambda f: _replace(
            f,
            DIM_MERCHANTS,
            "chargeback_rates as (",
            "currencies as (\n\n    select * from {{ ref('dim_currencies') }}\n\n),\n\nchargeback_rates as (",
        ),
        ("dbt",),
        "//dbt:dim_merchants",
    ),
    "dbt model removed with the DAGs that used it": PlatformEdit(
        lambda f: _remove(
            f,
            "dbt/models/marts/finance/rpt_reconciliation_breaks.sql",
            "dags/quality/dq_marts_dbt_tests.py",
            "dags/reconciliation/recon_breaks_ageing.py",
        ),
        ("dbt", "dags/quality", "dags/reconciliation"),
        "//dbt:rpt_reconciliation_breaks",
    ),
    BREAKS: PlatformEdit(lambda f: _remove(f, "dbt/models/staging/payments/stg_payments.sql"), ("dbt",), None),
    "new DAG file": PlatformEdit(_new_dag, ("dags/reporting",), "//dags/reporting:aml_weekly_digest"),
    "new DAG config file beside a DAG": PlatformEdit(
        lambda f: {**f, "dags/dbt/dbt_aml_daily.yaml": b"lookback_days: 30\n"}, ("dags/dbt",), "//dags/dbt:dbt_aml_daily"
    ),
    "Avro schema field added": PlatformEdit(
        lambda f: _avro_field(f, "kafka/topics/fx.rates.v1/schema.avsc"), ("kafka",), "//kafka/topics:fx.rates.v1"
    ),
    "Terraform tag value": PlatformEdit(
        lambda f: _replace(f, "terraform/envs/dev/main.tf", '"data-platform-team"', '"data-platform"'),
        ("terraform/envs/dev",),
        "//terraform/envs/dev:dev",
    ),
    "shared DAG helper body": PlatformEdit(
        lambda f: _replace(f, "dags/common/dbt.py", "annotations\n", "annotations\n\nRETRIES = 7\n"),
        ("dags/common",),
        "//dags/common:dbt",
    ),
    "global input": PlatformEdit(
        lambda f: {**f, "constraints.txt": f["constraints.txt"] + b"\nsqlglot==99.0\n"}, (), "//kafka/topics:fx.rates.v1"
    ),
    "dbt singular test gains a ref() (check-only edges)": PlatformEdit(
        lambda f: _replace(
            f,
            "dbt/tests/assert_ledger_journals_balance.sql",
            "group by journal_id",
            "where journal_id not in (select journal_id from {{ ref('rpt_daily_revenue') }})\ngroup by journal_id",
        ),
        ("dbt",),
        "//dbt:fct_ledger_entries",
    ),
    "new Kafka topic (a Terraform module reads the topics folder)": PlatformEdit(
        _new_topic, ("kafka", "terraform/modules/glue_schema_registry"), "//kafka/topics:fx.forwards.v1"
    ),
    ".airflowignore edited": PlatformEdit(
        lambda f: {**f, "dags/.airflowignore": f["dags/.airflowignore"] + b"scratch/\n"},
        ("dags",),
        "//dags/dbt:dbt_aml_daily",
    ),
    "new Spark library module imported by a job": PlatformEdit(
        _new_library_module, ("spark/lib", "spark/jobs/aml_features"), "//spark/lib:finsight_spark.thresholds"
    ),
}


def _within(package: str, folder: str) -> bool:
    return package == folder or package.startswith(folder + "/")


@pytest.mark.parametrize("name", list(PLATFORM_EDITS))
def test_platform_edit_derives_the_graph_built_from_scratch(platform, name):
    files, settings, registry, cache, base = platform
    edit = PLATFORM_EDITS[name]
    edited = edit.make(files)
    assert edited != files
    built = outcome(lambda: scratch(edited, settings, registry, cache))
    derived = outcome(lambda: derive(base, edited, settings, registry, cache))
    if edit.shows is None:
        assert isinstance(built, GraphbuildError)
        assert_same_error(derived, built)
        return
    assert not isinstance(built, GraphbuildError), built
    assert not isinstance(derived, GraphbuildError), derived
    assert_same(derived, built)
    changes = compare(base, built)  # the edit did what it says
    shown = {str(label) for label in (*changes.directly_changed, *changes.removed, *changes.metadata_only)}
    assert (edit.shows in shown) if edit.shows else not shown, shown
    assert_identity_kept(derived, base)
    untouched = [label for label in base.graph.targets if not any(_within(label.package, t) for t in edit.touched)]
    assert untouched
    for label in untouched:  # not expanded again, or expanded to equal targets: the previous objects
        assert derived.graph.targets[label] is base.graph.targets[label], label


def test_platform_edits_in_sequence_derive_from_each_other(platform):
    files, settings, registry, cache, base = platform
    previous, memo = base, {}
    for name, edit in PLATFORM_EDITS.items():
        if name == BREAKS:
            continue
        files = edit.make(files)
        derived = derive(previous, files, settings, registry, cache, memo)
        assert_same(derived, scratch(files, settings, registry, cache))
        previous = derived


def test_platform_edit_recomputes_only_what_it_affects(platform):
    files, settings, registry, cache, base = platform
    derived = derive(base, PLATFORM_EDITS["Terraform tag value"].make(files), settings, registry, cache)
    dev = next(l for l in base.graph.targets if l.package == "terraform/envs/dev")
    changed = {l for l, s in derived.states.items() if s is not base.states[l]}
    assert changed == set(derived.graph.transitive_rdeps({dev}))
    assert derived.fingerprint(dev).data == base.fingerprint(dev).data  # a tag value is metadata
    assert derived.fingerprint(dev).metadata != base.fingerprint(dev).metadata


# ---------------------------------------------------------------------------------------------------------------
# 3. the revision store

STORE_FILES = {
    "a/BUILD": 'fake_target(provides=["sym:a"])\nfake_target(name="u", sources=["**/*.txt"], behaviour={"k": "v"})\n',
    "a/1.txt": "alpha",
    "a/sub/2.txt": "beta",
    "c/BUILD": 'fake_target(requires=["sym:a", "file:a/sub"])\n',
    "c/6.txt": "six",
    "constraints.txt": "pandas==2.2\n",
}

CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from graphbuild.fingerprint import fingerprint_graph
    from graphbuild.graph import build_graph
    from graphbuild.labels import Label
    from graphbuild.revisions import RevisionStore
    from graphbuild.sources import Delta
    from graphbuild.testing import FakeRule, MemorySnapshot, Registry
    from graphbuild.values import FrozenDict
    from graphbuild.workspace import Settings, WorkspaceSettings

    directory, identity, files_json = sys.argv[1:]
    files = json.loads(Path(files_json).read_text())
    registry = Registry([FakeRule()])
    settings = Settings(workspace=WorkspaceSettings(global_inputs=("constraints.txt",)))
    stored = RevisionStore(Path(directory), "salt-1").load(identity)
    assert stored is not None, "no stored revision"
    fp = stored.fingerprinted
    snapshot = MemorySnapshot(files)
    scratch = build_graph(snapshot, settings, registry)
    # lookups by values built in this process: hashes computed here, never carried over
    found = {
        str(label): [
            fp.states[label].fingerprint.data,
            fp.states[label].fingerprint.metadata,
            fp.states[label].fingerprint.interface,
            fp.graph.targets[label] == target,
            {fp.graph.targets[label]: 1}.get(target) == 1,
            {fp.states[label].blobs: 1}.get(FrozenDict(dict(fp.states[label].blobs))) == 1,
            {fp.graph.targets[label].attributes: 1}.get(FrozenDict(dict(target.attributes))) == 1,
        ]
        for label, target in scratch.targets.items()
    }
    # and derive the next revision from the stored one
    edited = MemorySnapshot({**files, "a/sub/2.txt": "beta, edited"})
    delta = Delta.between(stored.blobs, edited.blob_map())
    graph = build_graph(edited, settings, registry, previous=fp.graph, delta=delta)
    derived = fingerprint_graph(graph, edited, settings, registry, previous=fp, delta=delta)
    fresh = fingerprint_graph(build_graph(edited, settings, registry), edited, settings, registry)
    print(json.dumps({
        "hash": hash("probe"),
        "states": found,
        "derived equals scratch": derived.states == fresh.states and graph.deps == fresh.graph.deps,
        "kept": sum(graph.targets[l] is fp.graph.targets[l] for l in graph.targets),
    }))
    """
)


def _fingerprinted(files: dict[str, str | bytes]) -> Fingerprinted:
    settings = Settings(workspace=WorkspaceSettings(global_inputs=("constraints.txt",)))
    return scratch(files, settings, FAKE, FactCache(None))


def test_store_round_trip_in_another_process(tmp_path):
    fp = _fingerprinted(STORE_FILES)
    for state in fp.states.values():  # cache every FrozenDict's hash in this process before pickling
        hash(state.blobs), hash(state.target)
    store = RevisionStore(tmp_path / "revisions", "salt-1")
    identity = fp.snapshot.identity
    store.save(identity, fp.snapshot.blob_map(), fp)
    (tmp_path / "files.json").write_text(json.dumps(STORE_FILES))
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "revisions"), identity, str(tmp_path / "files.json")],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    child = json.loads(done.stdout)
    assert child["hash"] != hash("probe"), "the child must hash strings differently for this test to mean anything"
    expected = {
        str(label): [s.fingerprint.data, s.fingerprint.metadata, s.fingerprint.interface, True, True, True, True]
        for label, s in fp.states.items()
    }
    assert child["states"] == expected
    assert child["derived equals scratch"] is True
    assert child["kept"] == 3  # a modified file changes no BUILD expansion: every target is the stored object


def test_store_round_trip_in_this_process(tmp_path):
    fp = _fingerprinted(STORE_FILES)
    store = RevisionStore(tmp_path, "salt-1")
    store.save(fp.snapshot.identity, fp.snapshot.blob_map(), fp)
    stored = store.load(fp.snapshot.identity)
    assert stored is not None and stored.identity == fp.snapshot.identity
    assert dict(stored.blobs) == dict(fp.snapshot.blob_map())
    assert stored.fingerprinted.states == fp.states and stored.fingerprinted.graph == fp.graph
    assert store.latest() is not None and store.latest().identity == fp.snapshot.identity


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "foreign pickle"])
def test_a_damaged_entry_is_a_miss_and_is_deleted(tmp_path, damage):
    fp = _fingerprinted(STORE_FILES)
    store = RevisionStore(tmp_path, "salt-1")
    identity = fp.snapshot.identity
    store.save(identity, fp.snapshot.blob_map(), fp)
    (entry,) = tmp_path.glob("*.pickle")
    data = entry.read_bytes()
    entry.write_bytes(
        {
            "truncated": data[: len(data) // 2],
            "garbage": b"\x80\x05not a pickle at all",
            "empty": b"",
            "foreign pickle": pickle.dumps({"some": "other tool"}),
        }[damage]
    )
    assert store.load(identity) is None
    assert not entry.exists()
    assert store.load(identity) is None and store.latest() is None


def test_another_salt_misses(tmp_path):
    fp = _fingerprinted(STORE_FILES)
    identity = fp.snapshot.identity
    RevisionStore(tmp_path, "salt-1").save(identity, fp.snapshot.blob_map(), fp)
    other = RevisionStore(tmp_path, "salt-2")
    assert other.load(identity) is None
    assert RevisionStore(tmp_path, "salt-1").load(identity) is not None  # a miss elsewhere leaves it alone
    assert other.latest() is None  # an entry of another salt (another branch's settings) is never read...
    assert len(list(tmp_path.glob("*.pickle"))) == 1  # ...but kept until pruned: switching back finds it
    assert RevisionStore(tmp_path, "salt-1").latest() is not None


def test_salt_follows_settings_and_rules():
    fake = RevisionStore.open(None, Settings(), Registry([FakeRule()]))
    assert fake.salt == RevisionStore.open(None, Settings(), Registry([FakeRule()])).salt
    assert fake.salt != RevisionStore.open(None, FAKE_SETTINGS, Registry([FakeRule()])).salt
    assert fake.salt != RevisionStore.open(None, Settings(), FAKE).salt  # another rule


def test_only_the_newest_entries_are_kept(tmp_path):
    store = RevisionStore(tmp_path, "salt-1")
    identities = []
    for i in range(KEEP + 3):
        fp = _fingerprinted({**STORE_FILES, "a/1.txt": f"alpha {i}"})
        identities.append(fp.snapshot.identity)
        store.save(fp.snapshot.identity, fp.snapshot.blob_map(), fp)
    assert len(list(tmp_path.glob("*.pickle"))) == KEEP
    kept = [identity for identity in identities if store.load(identity) is not None]
    assert kept == identities[-KEEP:]


def test_without_a_directory_nothing_is_stored(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fp = _fingerprinted(STORE_FILES)
    store = RevisionStore(None, "salt-1")
    store.save(fp.snapshot.identity, fp.snapshot.blob_map(), fp)
    assert store.load(fp.snapshot.identity) is None and store.latest() is None
    assert list(tmp_path.rglob("*")) == []


# ---------------------------------------------------------------------------------------------------------------
# 4. sessions over a git workspace

FCT = "dbt/models/marts/fct_payments.sql"


def _edit(mini) -> None:
    mini.edit(FCT, "    p.amount,\n", "    p.amount,\n    p.amount * 0.01 as fee_amount,\n")


def _entries(mini) -> list[Path]:
    return sorted((mini.root / "cache" / "revisions").glob("*.pickle"))


def test_changes_are_the_same_with_a_cold_and_a_warm_store(mini):
    _edit(mini)
    with mini.session(use_cache=False) as cold:
        expected = cold.changes(since="HEAD")
    assert "//dbt:fct_payments" in {str(l) for l in expected.affected}
    with mini.session() as first:  # stores HEAD
        assert first.changes(since="HEAD") == expected
    head = _entries(mini)
    assert len(head) == 1  # HEAD (a commit) is stored; the worktree, derived from it, is not
    with mini.session() as warm:  # HEAD comes from the store, the worktree is derived from it
        assert warm.changes(since="HEAD") == expected
    with mini.session(use_cache=False) as scratch_only:  # the worktree first: nothing to derive it from
        worktree = scratch_only.fingerprinted()
        base = scratch_only.fingerprinted("HEAD")
    assert compare(base, worktree) == expected


def test_a_new_session_derives_the_worktree_from_the_stored_head(mini):
    with mini.session() as first:
        first.fingerprinted("HEAD")
    (entry,) = _entries(mini)
    _edit(mini)
    mini.write({"dags/payments/payments_daily.yaml": "lookback_days: 3\n"})
    with mini.session() as second:  # nothing of its own yet: derives the worktree from the store's latest
        derived = second.fingerprinted()
        assert derived.graph.derived is not None  # not built from scratch
        identity = second.snapshot().identity
        assert second.revisions.load(identity) is None  # derived, so not stored: a scratch build would be
    assert _entries(mini) == [entry]
    with mini.session(use_cache=False) as cold:
        built = cold.fingerprinted()
    assert_same(derived, built)
    fct = Label("dbt", "fct_payments")
    assert derived.fingerprint(fct) == built.fingerprint(fct)


def test_a_clean_worktree_is_its_commit(mini):
    _edit(mini)
    with mini.session(use_cache=False) as cold:
        cold_graph = cold.graph()
    mini.commit("fee")
    with mini.session() as first:  # clean tree: same identity as HEAD
        clean = first.fingerprinted()
        head = first.fingerprinted("HEAD")
    assert head.states == clean.states and head.graph == clean.graph == cold_graph
    assert len(_entries(mini)) == 1


def _cold(workspace, revision: str | None = None) -> Fingerprinted:
    """The revision built from scratch: a session without a store, asked for nothing else first."""
    with workspace.session(use_cache=False) as cold:
        return cold.fingerprinted(revision)


def test_commits_derived_from_stored_commits_equal_scratch(mini):
    with mini.session() as first:
        first.fingerprinted("HEAD")  # c1, built and stored
    _edit(mini)
    mini.write(
        {
            "dags/payments/payments_daily.yaml": "lookback_days: 3\n",
            "dbt/models/marts/rpt_daily_volume.sql": None,  # removed
            "kafka/topics/payments.v1/versions/2.avsc": mini.read("kafka/topics/payments.v1/schema.avsc"),
        }
    )
    mini.commit("c2")
    with mini.session() as second:  # c2: derived from the stored c1 (read lazily), then stored itself
        c2 = second.fingerprinted("HEAD")
        assert c2.graph.derived is not None  # not built from scratch
        assert_same(c2, _cold(mini, "HEAD"))
    assert len(_entries(mini)) == 2
    mini.edit(FCT, "p.currency,\n", "p.currency,\n    p.amount * 2 as doubled,\n")
    mini.write({"dbt/models/staging/stg_new.sql": "select * from {{ ref('stg_payments') }}\n"})
    mini.commit("c3")
    with mini.session() as third:  # c2 from the store (an entry written from a derived revision); c3 derived from it
        changes = third.changes(since="HEAD~1", until="HEAD")
        assert_same(third.fingerprinted("HEAD~1"), _cold(mini, "HEAD~1"))
        assert_same(third.fingerprinted("HEAD"), _cold(mini, "HEAD"))
    with mini.session(use_cache=False) as cold:
        assert cold.changes(since="HEAD~1", until="HEAD") == changes
    assert {"//dbt:fct_payments", "//dbt:stg_new"} <= {str(l) for l in changes.affected}
    mini.edit("dbt/models/staging/stg_new.sql", "select *", "select payment_id")
    with mini.session() as fourth:  # the worktree, from the latest stored commit
        assert_same(fourth.fingerprinted(), _cold(mini))


def test_platform_worktree_derived_from_the_stored_head_equals_scratch(tmp_path, platform):
    files, settings, registry, cache, base = platform
    ws = GitWorkspace(tmp_path / "platform")
    ws.write(files)
    ws.commit("platform")
    with ws.session() as first:
        first.fingerprinted("HEAD")  # built from scratch and stored
    edited = files
    for name, edit in PLATFORM_EDITS.items():
        if name != BREAKS:
            edited = edit.make(edited)
    ws.write({p: edited.get(p) for p in {*files, *edited} if files.get(p) != edited.get(p)})
    with ws.session() as warm:  # HEAD from the store (read lazily), the worktree derived from it
        changes = warm.changes(since="HEAD")
        derived = warm.fingerprinted()
    assert derived.graph.derived is not None  # not built from scratch
    built = scratch(edited, settings, registry, cache)  # the same files in memory: the same blob ids
    assert_same(derived, built)
    expected = compare(base, built)
    assert (changes.affected, changes.removed) == (expected.affected, expected.removed)
    assert changes.metadata_only == expected.metadata_only
    assert dict(changes.reasons) == dict(expected.reasons)
    assert Label("dags/reporting", "aml_weekly_digest") in changes.affected


# ---------------------------------------------------------------------------------------------------------------
# 5. rule settings: a [rules.<name>] change recomputes the targets of the rules reading it, and their dependents


def _with_rules(settings: Settings, rule: str, values: dict) -> Settings:
    return Settings.model_validate({**settings.model_dump(), "rules": {**settings.rules, rule: {**settings.rules.get(rule, {}), **values}}})


@pytest.mark.parametrize(
    ("rule", "values", "readers"),
    [
        ("dbt", {"dialect": "snowflake"}, {"dbt"}),
        ("dbt", {"vars": {"with_beta": True}}, {"dbt"}),
        ("kafka", {"default_compatibility": "FULL"}, {"kafka"}),
        ("spark", {"tests": "test"}, {"spark"}),
        ("python", {"source_roots": ["spark/lib", "spark/jobs", "dags"]}, {"python", "airflow", "spark"}),
        ("dbt", {"timeout_s": 60.0}, set()),  # settings only actions read: in their cache keys, in no fingerprint
        ("terraform", {"required_tags": ["Owner"]}, set()),
        ("airflow", {"policy": {"min_retries": 3}}, set()),
        ("secrets", {"exclude": ["docs/**"]}, set()),  # a cross-cutting check's settings: no target's
    ],
)
def test_a_rules_settings_change_recomputes_only_its_targets_and_their_dependents(platform, rule, values, readers):
    files, settings, registry, cache, base = platform
    changed = _with_rules(settings, rule, values)
    derived = derive(base, files, changed, registry, cache)
    assert_same(derived, scratch(files, changed, registry, cache))
    readers = {label for label, target in base.graph.targets.items() if target.rule in readers}
    assert derived.recomputed == base.graph.transitive_rdeps(readers)
    for label in base.graph.targets:
        if label not in derived.recomputed:
            assert derived.states[label] is base.states[label], label
        elif label in readers:
            assert derived.fingerprint(label).data != base.fingerprint(label).data, label


def test_a_settings_change_is_not_derived_from_a_graph_expanded_under_other_settings(mini):
    mini.write({"graphbuild.toml": mini.read("graphbuild.toml") + '\n[rules.airflow.helpers]\nspark_task = { job = "spark:job:" }\n'})
    with mini.session(use_cache=False) as session:
        session.fingerprinted("HEAD")  # under its own settings: the nearest revision of the worktree
        worktree = session.fingerprinted()
        daily = Label("dags/payments", "payments_daily")
        assert {str(e.target) for e in worktree.graph.deps[daily]} >= {"//spark/jobs/payments_clean:payments_clean"}
        assert not {str(e.target) for e in worktree.graph.deps[daily]} & {"//dbt:fct_payments", "//kafka/topics:payments.v1"}
    assert_same(worktree, _cold(mini))
