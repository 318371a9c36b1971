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


# ---------------------------------------------------------------------------------------------
# symlinks and paths outside the workspace (security items 8 and 14)

import os  # noqa: E402

import pytest  # noqa: E402

from graphbuild.errors import BuildFileError, PlanError, WorkspaceError  # noqa: E402
from graphbuild.paths import read_workspace_file, unsafe_glob_reason  # noqa: E402

MARKER = "FAKE-SECRET-MARKER-7f3a9c"  # what an attacker wants to publish: stands for /proc/self/environ


def _outside(tmp_path):
    """A file and a folder outside the workspace holding the marker, as /proc/self/environ or ~/.aws would."""
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "environ").write_text(f"AWS_SECRET_ACCESS_KEY={MARKER}\n")
    (outside / "dir" / "creds.txt").write_text(f"token {MARKER}\n")
    return outside


def _ls_files_blob(root, rel):
    return subprocess.run(["git", "ls-files", "-s", rel], cwd=root, capture_output=True, text=True, check=True).stdout.split()[1]


def test_drill_a_committed_symlink_is_read_as_its_link_text_never_followed(tmp_path):
    outside = _outside(tmp_path)
    ws = GitWorkspace(tmp_path / "ws")
    ws.write({"spark/jobs/x/main.py": "print(1)\n", "dags/a.py": "x = 1\n"})
    (ws.root / "spark/jobs/x/leak.py").symlink_to(outside / "environ")  # absolute link to a file
    (ws.root / "dags/rel.py").symlink_to("../../outside/environ")  # relative link out of the workspace
    (ws.root / "spark/jobs/x/conf").symlink_to(outside / "dir", target_is_directory=True)  # a folder
    ws.commit()
    os.remove(ws.root / "dags/a.py")
    (ws.root / "dags/a.py").symlink_to(outside / "environ")  # a tracked file turned into a link (dirty)
    (ws.root / "new_leak.txt").symlink_to(outside / "environ")  # an untracked link
    tree = WorkingTree(ws.root, FactCache(None))
    links = {"spark/jobs/x/leak.py", "dags/rel.py", "spark/jobs/x/conf", "dags/a.py", "new_leak.txt"}
    assert links <= set(tree.paths())
    leaked = [p for p in tree.paths() if MARKER.encode() in tree.read(p) or MARKER in str(tree.facts(p, Analyzer("raw", "1", bytes.decode)))]
    assert leaked == [], f"{len(leaked)} of {len(links)} attack files leaked"
    for rel in links:
        assert tree.read(rel) == os.fsencode(os.readlink(ws.root / rel))
        assert tree.blob_id(rel) == blob_id_of(tree.read(rel))
    for rel in ("spark/jobs/x/leak.py", "dags/rel.py", "spark/jobs/x/conf"):  # git's own blob id: the link text
        assert tree.blob_id(rel) == _ls_files_blob(ws.root, rel)
    head = GitRevision(ws.root, "HEAD", FactCache(None))
    try:
        assert head.read("spark/jobs/x/leak.py") == str(outside / "environ").encode()
    finally:
        head.close()


def test_the_safe_reader_refuses_links_folders_through_links_and_paths_outside(tmp_path):
    outside = _outside(tmp_path)
    root = tmp_path / "ws"
    (root / "a").mkdir(parents=True)
    (root / "a" / "f.txt").write_text("ok\n")
    (root / "a" / "leak.py").symlink_to(outside / "environ")
    (root / "linked").symlink_to(outside / "dir", target_is_directory=True)
    os.mkfifo(root / "a" / "pipe")
    assert read_workspace_file(root, "a/f.txt") == b"ok\n"
    assert read_workspace_file(root, "a/leak.py", symlinks="link-text") == str(outside / "environ").encode()
    refusals = {
        "a/leak.py": "a/leak.py: this file is a symlink",
        "linked/creds.txt": "linked: this folder is a symlink",
        "../outside/environ": "it leaves the workspace",
        str(outside / "environ"): "it is an absolute path",
        "a//f.txt": "empty or '.' path component",
        "a/pipe": "a/pipe: not a regular file",  # would hang a plain open()
    }
    for path, message in refusals.items():
        for policy in ("refuse", "link-text"):
            if path == "a/leak.py" and policy == "link-text":
                continue
            with pytest.raises(WorkspaceError) as error:
                read_workspace_file(root, path, symlinks=policy)
            assert message in str(error.value) and MARKER not in str(error.value)
    with pytest.raises(FileNotFoundError):
        read_workspace_file(root, "a/missing.txt")


@pytest.mark.parametrize("pattern", ["/etc/passwd", "../../**", "sub/../../x.txt", "!../**", "./*.txt", "a//b.txt"])
def test_a_sources_glob_outside_the_package_is_a_build_file_error(tmp_path, pattern):
    from graphbuild.rule import Registry
    from graphbuild.testing import FakeRule

    ws = GitWorkspace(tmp_path)
    ws.write({"pkg/BUILD": f'fake_target(name="t")\nfake_target(name="u", sources=["*.txt", {pattern!r}])\n', "pkg/a.txt": "a"})
    ws.commit()
    with ws.session(registry=Registry([FakeRule()]), use_cache=False) as session, pytest.raises(BuildFileError) as error:
        session.graph()
    assert error.value.file == "pkg/BUILD" and error.value.line == 2
    assert repr(pattern) in error.value.message and "relative to the BUILD file" in error.value.fix
    assert unsafe_glob_reason(pattern) is not None


def test_globs_inside_the_package_are_accepted():
    for pattern in ("*.py", "**/*.sql", "!tests/**", "conf/defaults.json", "a..b/*.txt", "..."):
        assert unsafe_glob_reason(pattern) is None, pattern


def test_drill_symlinks_never_publish_their_target_to_the_cache_the_state_store_or_a_deploy(tmp_path):
    """Attack: commit links to a secret outside the workspace as sources of deployable targets. ``test``
    refuses to run the checks' tools over them, ``plan`` refuses to store them; once they are gone, test,
    plan and deploy run: the marker is in no file of the cache (facts read while the links were there
    included), the state store or the backend folder."""
    from graphbuild.rule import Registry
    from graphbuild.testing import FakeRule
    from rules.secrets import check as secret_scan
    from tests.plan.conftest import Release, make_workspace

    outside = _outside(tmp_path)
    ws = make_workspace(tmp_path / "ws")
    attacks = {
        "dags/daily/dag.txt": outside / "environ",  # replaces a deployed file
        "jobs/ingest/extra.txt": "../../../outside/environ",  # relative, leaves the workspace
        "models/staged/creds.txt": outside / "dir" / "creds.txt",
    }
    os.remove(ws.root / "dags/daily/dag.txt")
    for rel, target in attacks.items():
        (ws.root / rel).symlink_to(target)
    (ws.root / "models/report/linked").symlink_to(outside / "dir", target_is_directory=True)
    release = Release(ws, Registry([FakeRule()], checks=[secret_scan]))
    release.commit("links", test=False)
    with pytest.raises(WorkspaceError) as refused:  # the checks' tools would follow the links: nothing runs
        release.test()
    assert refused.value.file == "dags/daily/dag.txt" and "(and 3 more)" in refused.value.message
    assert "points outside the workspace" in str(refused.value) and MARKER not in str(refused.value)
    with pytest.raises(PlanError) as error:  # a deploy never ships a symlink, neither its text nor its target
        release.plan("dev")
    assert "is a symlink; graphbuild never deploys through symlinks" in str(error.value)
    assert error.value.file in attacks and MARKER not in str(error.value)
    for rel in attacks:  # the attacker's fallback: deploy the rest
        os.remove(ws.root / rel)
    os.remove(ws.root / "models/report/linked")
    (ws.root / "models/report/inside").symlink_to("model.txt")  # a link inside the workspace is no threat to checks
    ws.write({"dags/daily/dag.txt": "daily v2"})
    release.commit("no links")
    result = release.deploy(release.plan("dev"))
    assert result.steps and all(r.status == "applied" for r in result.steps)
    written = [p for folder in ("state", "local", "cache") for p in (ws.root / folder).rglob("*") if p.is_file()]
    assert len(written) > 20
    leaked = [str(p.relative_to(ws.root)) for p in written if MARKER.encode() in p.read_bytes()]
    assert leaked == [], f"{len(leaked)} of {len(written)} files written hold the secret"
