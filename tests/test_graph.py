import pytest

from graphbuild.errors import BuildFileError, CycleError, UnknownLabelError, UnresolvedDependencyError
from graphbuild.labels import Label
from graphbuild.testing import FakeRule, MemorySnapshot, Registry, Settings, build_graph

REGISTRY = Registry([FakeRule()])


def graph_of(files):
    return build_graph(MemorySnapshot(files), Settings(), REGISTRY)


def test_edges_from_symbols_and_declared_labels_carry_their_origin():
    graph = graph_of(
        {
            "a/BUILD": 'fake_target(provides=["topic:a"])\n',
            "a/x.txt": "a",
            "b/BUILD": '\nfake_target(requires=["topic:a"], dependencies=["//c"])\n',
            "c/BUILD": "fake_target()\n",
        }
    )
    b = Label("b", "b")
    assert [str(e.target) for e in graph.deps[b]] == ["//a:a", "//c:c"]
    origins = {str(e.target): e.origin for e in graph.deps[b]}
    assert (origins["//a:a"].file, origins["//a:a"].line, origins["//a:a"].how) == ("b/BUILD", 2, "fake requires")
    assert origins["//c:c"].how == "declared"
    assert graph.rdeps[Label("a", "a")] == (b,)
    assert graph.owners["a/x.txt"] == (Label("a", "a"),)
    assert graph.order.index(Label("a", "a")) < graph.order.index(b)


def test_unresolved_requirement_names_file_line_and_suggests():
    with pytest.raises(UnresolvedDependencyError) as info:
        graph_of({"a/BUILD": 'fake_target(provides=["topic:payments"])', "b/BUILD": 'fake_target(requires=["topic:payment"])'})
    assert info.value.file == "b/BUILD" and info.value.line == 1
    assert "did you mean topic:payments" in str(info.value)


def test_optional_requirements_may_stay_unresolved():
    graph = graph_of({"b/BUILD": 'fake_target(optional=["python:airflow"])'})
    assert graph.deps[Label("b", "b")] == ()


def test_cycles_are_reported_with_the_path():
    with pytest.raises(CycleError) as info:
        graph_of(
            {
                "a/BUILD": 'fake_target(provides=["s:a"], requires=["s:b"])',
                "b/BUILD": 'fake_target(provides=["s:b"], requires=["s:a"])',
            }
        )
    assert "//a:a -> //b:b -> //a:a" in str(info.value)


def test_unknown_declared_dependency_suggests():
    with pytest.raises(UnknownLabelError, match="did you mean //abc:abc"):
        graph_of({"abc/BUILD": "fake_target()", "b/BUILD": 'fake_target(dependencies=["//abd"])'})


def test_unknown_type_and_argument_suggest():
    with pytest.raises(BuildFileError, match="did you mean fake_target"):
        graph_of({"a/BUILD": "fake_targt()"})
    with pytest.raises(BuildFileError, match="did you mean sources") as info:
        graph_of({"a/BUILD": '\n\nfake_target(source=["x"])'})
    assert info.value.line == 3


def test_wrong_argument_type_is_reported():
    with pytest.raises(BuildFileError, match="must be a list"):
        graph_of({"a/BUILD": 'fake_target(tags="x")'})


def test_duplicate_labels_are_reported():
    with pytest.raises(BuildFileError, match="declared twice"):
        graph_of({"a/BUILD": 'fake_target(name="x")\nfake_target(name="x")'})


def test_overrides_apply_and_unknown_names_are_errors():
    graph = graph_of({"a/BUILD": 'fake_target(name="x", overrides={"x": {"owners": ["team"]}})'})
    assert graph.targets[Label("a", "x")].metadata["owners"] == ("team",)
    with pytest.raises(BuildFileError, match="names no generated target"):
        graph_of({"a/BUILD": 'fake_target(name="x", overrides={"y": {"owners": ["team"]}})'})
    with pytest.raises(BuildFileError, match="overrides may set only"):
        graph_of({"a/BUILD": 'fake_target(name="x", overrides={"x": {"sources": []}})'})


def test_file_symbols_resolve_to_owners_of_files_and_folders():
    graph = graph_of(
        {
            "k/BUILD": 'fake_target(sources=["**/*.avsc"])',
            "k/t/schema.avsc": "{}",
            "t/BUILD": 'fake_target(requires=["file:k/t/schema.avsc"])',
            "u/BUILD": 'fake_target(requires=["file:k"])',
        }
    )
    assert [str(e.target) for e in graph.deps[Label("t", "t")]] == ["//k:k"]
    assert [str(e.target) for e in graph.deps[Label("u", "u")]] == ["//k:k"]


def test_shortest_path_and_closures():
    graph = graph_of(
        {
            "a/BUILD": 'fake_target(provides=["s:a"])',
            "b/BUILD": 'fake_target(provides=["s:b"], requires=["s:a"])',
            "c/BUILD": 'fake_target(requires=["s:b", "s:a"])',
        }
    )
    a, b, c = (Label(x, x) for x in "abc")
    assert graph.shortest_path(c, {a}) == (c, a)
    assert graph.shortest_path(c, {b}) == (c, b)
    assert graph.shortest_path(a, {c}) is None
    assert graph.transitive_rdeps({a}) == {a, b, c}
    assert graph.transitive_deps({b}) == {a, b}


def _probe_graph(extra: str = ""):
    """//t:t reads //b:b (data) and its tests read //a:a (check-only); //u:u's tests read //a:a only."""
    from graphbuild.sources import FactCache
    from tests.test_incremental import FAKE, FAKE_SETTINGS, scratch

    files = {
        "a/BUILD": 'probe_target(provides=["s:a"])', "a/MANIFEST": "src a/1.txt", "a/1.txt": "alpha" + extra,
        "b/BUILD": 'probe_target(provides=["s:b"])', "b/MANIFEST": "req s:a",
        "t/BUILD": "probe_target()", "t/MANIFEST": "req s:b\ncheck s:a",
        "u/BUILD": "probe_target()", "u/MANIFEST": "check s:a",
    }
    return scratch(files, FAKE_SETTINGS, FAKE, FactCache(None))


def test_shortest_path_prefers_data_edges_to_a_shorter_check_only_one():
    graph = _probe_graph().graph
    a, b, t, u = (Label(x, x) for x in "abtu")
    assert graph.edge(t, a).is_check_only and not graph.edge(t, b).is_check_only and graph.edge(t, u) is None
    assert graph.shortest_path(t, {a}) == (t, b, a)  # not the one check-only step (t, a)
    assert graph.shortest_path(u, {a}) == (u, a)  # the only path: through a check-only edge
    assert graph.shortest_path(a, {t}) is None


def test_a_long_chain_has_a_path_without_recursion():
    from graphbuild.graph import Edge, Graph
    from graphbuild.rule import Origin

    labels = [Label("c", f"n{i}") for i in range(20_000)]
    for check_only in (False, True):  # the data-edge search, then the fewest-check-only-edges one
        deps = {x: (Edge(x, y, Origin("c/BUILD"), check_only),) for x, y in zip(labels, labels[1:])} | {labels[-1]: ()}
        graph = Graph(targets={}, deps=deps, rdeps={}, owners={}, build_files=(), order=())
        assert graph.shortest_path(labels[0], {labels[-1]}) == tuple(labels)
