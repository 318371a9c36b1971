import subprocess

from graphbuild.sources import FactCache, GitRevision, WorkingTree, blob_id_of, Analyzer
from graphbuild.testing import GitWorkspace


def _hash_object(root, rel):
    return subprocess.run(["git", "hash-object", rel], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def test_working_tree_blob_ids_match_git_for_clean_dirty_and_new_files(tmp_path):
    ws = GitWorkspace(tmp_path)
    ws.write({"a.txt": "one\n", "b/c.txt": "two\n", "gone.txt": "x"})
    ws.commit()
    ws.write({"a.txt": "changed\n", "new.txt": "new\n", "gone.txt": None})
    tree = WorkingTree(tmp_path, FactCache(None))
    assert "gone.txt" not in tree.paths()
    for rel in ("a.txt", "b/c.txt", "new.txt", "graphbuild.toml"):
        assert tree.blob_id(rel) == _hash_object(tmp_path, rel)
    assert tree.read("a.txt") == b"changed\n"


def test_git_revision_reads_objects_without_checkout(tmp_path):
    ws = GitWorkspace(tmp_path)
    ws.write({"a.txt": "one\n"})
    first = ws.commit()
    ws.write({"a.txt": "two\n"})
    ws.commit()
    old = GitRevision(tmp_path, "HEAD~1", FactCache(None))
    try:
        assert old.revision == first
        assert old.read("a.txt") == b"one\n"
        assert old.blob_id("a.txt") == blob_id_of(b"one\n")
    finally:
        old.close()
    assert (tmp_path / "a.txt").read_text() == "two\n"


def test_workspace_in_a_subfolder_sees_only_its_files(tmp_path):
    ws = GitWorkspace(tmp_path / "repo")
    ws.write({"outside.txt": "x", "inner/graphbuild.toml": "", "inner/a.txt": "a"})
    ws.commit()
    ws.write({"inner/b.txt": "b"})
    tree = WorkingTree(tmp_path / "repo" / "inner", FactCache(None))
    assert tree.paths() == ("a.txt", "b.txt", "graphbuild.toml")
    rev = GitRevision(tmp_path / "repo" / "inner", "HEAD", FactCache(None))
    assert rev.paths() == ("a.txt", "graphbuild.toml")
    rev.close()


def test_nested_workspaces_are_not_part_of_the_outer_one(tmp_path):
    ws = GitWorkspace(tmp_path)
    ws.write({"x.txt": "x", "tests/fixtures/w/graphbuild.toml": "", "tests/fixtures/w/BUILD": ""})
    assert WorkingTree(tmp_path, FactCache(None)).paths() == ("graphbuild.toml", "x.txt")


def test_fact_cache_second_run_reads_nothing(tmp_path):
    ws = GitWorkspace(tmp_path / "ws")
    ws.write({f"f{i}.txt": f"content {i}" for i in range(20)})
    ws.commit()
    calls = []
    analyzer = Analyzer("count", "1", lambda data: calls.append(data) or len(data))
    first = FactCache(tmp_path / "cache")
    tree = WorkingTree(tmp_path / "ws", first)
    values = [tree.facts(p, analyzer) for p in tree.paths()]
    first.close()
    assert first.reads == 21 and len(calls) == 21
    second = FactCache(tmp_path / "cache")
    tree = WorkingTree(tmp_path / "ws", second)
    assert [tree.facts(p, analyzer) for p in tree.paths()] == values
    assert second.reads == 0 and len(calls) == 21
    second.close()


def test_cache_folder_never_shows_as_untracked(tmp_path):
    ws = GitWorkspace(tmp_path)
    ws.commit()
    cache = FactCache(tmp_path / "cache" / "facts")
    WorkingTree(tmp_path, cache).facts("graphbuild.toml", Analyzer("n", "1", len))
    cache.close()
    assert WorkingTree(tmp_path, FactCache(None)).paths() == ("graphbuild.toml",)


def test_glob_semantics():
    from graphbuild.testing import MemorySnapshot

    snap = MemorySnapshot({"m/a.sql": "", "m/x/b.sql": "", "m/x/c.yml": "", "other/a.sql": ""})
    assert snap.glob(["*.sql"], under="m") == ("m/a.sql",)
    assert snap.glob(["**/*.sql"], under="m") == ("m/a.sql", "m/x/b.sql")
    assert snap.glob(["**", "!**/*.yml"], under="m") == ("m/a.sql", "m/x/b.sql")
