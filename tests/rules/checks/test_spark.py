"""The ``spark_job`` checks (rules/checks/spark.py): ``package`` and ``unit-tests``.

Packaging runs without Spark, on a small workspace written under tmp_path (a job, and a library whose
modules it imports directly, relatively and not at all) and on the platform's 15 jobs. The unit tests
run in ONE real ``spark`` worker of the engine's pool for the whole module, so one JVM serves every
test here as it serves every job in ``graphbuild test``: a committed platform job (``git archive HEAD``
under tmp_path, so uncommitted edits elsewhere do not move the fixture) passes, then fails for its
changed transform; two jobs in one call share the JVM; a UDF's module changed between calls is not
served stale by Spark's Python workers; and (slow) all 15 platform jobs pass.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphbuild.sources import blob_id_of
from graphbuild.rule import Registry, RuleContext
from graphbuild.run.action import HandlerContext
from graphbuild.testing import MemorySnapshot, Settings, build_graph
from graphbuild.values import thaw
from rules.checks.spark import MANIFEST, ZIP_DATE_TIME, build_package, package_jobs, run_job_tests
from rules.python import rule as python_rule
from rules.spark import rule

REPO = Path(__file__).resolve().parents[3]
HANDLER = "rules.checks.spark:run_job_tests"
SOURCE_ROOTS = ["dags", "spark/lib", "spark/jobs"]

TOY = {
    "spark/lib/BUILD": 'python_library(sources=["toylib/**/*.py"])\n',
    "spark/lib/toylib/__init__.py": "",
    "spark/lib/toylib/tag.py": (
        'from . import text\n\nPREFIX = "v1-"\n\n\ndef tag(value):\n    return PREFIX + text.clean(value)\n'
    ),
    "spark/lib/toylib/text.py": "def clean(value):\n    return value.strip()\n",
    "spark/lib/toylib/cli.py": "import argparse\n\nPARSER = argparse.ArgumentParser()\n",
    "spark/lib/toylib/unused.py": "UNUSED = 1\n",
    "spark/jobs/toy_job/BUILD": 'spark_job(main="main.py", mode="batch", writes=["table:lake.toy_tags"])\n',
    "spark/jobs/toy_job/__init__.py": "",
    "spark/jobs/toy_job/main.py": "from toylib import cli\nfrom toy_job.transforms import tagged\n",
    "spark/jobs/toy_job/transforms.py": (
        "from pyspark.sql import DataFrame\nfrom pyspark.sql import functions as F\n\nfrom toylib.tag import tag\n\n\n"
        "def tagged(frame: DataFrame) -> DataFrame:\n"
        '    return frame.select(F.udf(tag, "string")(F.col("value")).alias("tagged"))\n'
    ),
    "spark/jobs/toy_job/conf/defaults.json": '{"partitions": 2}\n',
    "spark/jobs/toy_job/tests/test_toy_job.py": (
        "from toylib import tag as tag_module\nfrom toy_job.transforms import tagged\n\n\n"
        "def test_the_udf_runs_the_code_the_driver_sees(spark):\n"
        '    frame = spark.createDataFrame([(" x ",)], "value string")\n'
        '    assert [row.tagged for row in tagged(frame).collect()] == [tag_module.PREFIX + "x"]\n'
    ),
}
TOY_ARCHIVE = [
    MANIFEST, "toy_job/__init__.py", "toy_job/conf/defaults.json", "toy_job/main.py", "toy_job/transforms.py",
    "toylib/__init__.py", "toylib/cli.py", "toylib/tag.py", "toylib/text.py",
]  # fmt: skip


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def toy_actions() -> dict[str, dict[str, Any]]:
    """The rule's actions for the toy job, from a graph built over the toy files."""
    settings = Settings(rules={"python": {"source_roots": SOURCE_ROOTS}})
    snapshot = MemorySnapshot(TOY)
    graph = build_graph(snapshot, settings, Registry([rule, python_rule]))
    (target,) = [t for t in graph.targets.values() if t.kind == "spark_job"]
    actions = rule.actions(target, RuleContext(snapshot, settings, settings.rule_settings("spark")))
    return {a.name: {"action": a, "request": thaw(a.request)} for a in actions}


def platform_request(job: str) -> dict[str, Any]:
    """What the rule asks for a platform job (checked against the rule in the slow test)."""
    return {
        "job": job, "folder": f"spark/jobs/{job}", "tests": f"spark/jobs/{job}/tests",
        "import_roots": ["spark/jobs", "spark/lib"], "conftest_root": "spark", "master": "local[2]", "require_tests": True,
    }  # fmt: skip


def committed_platform(root: Path) -> Path:
    """The committed spark/ and kafka/topics/ (the tests encode records with the topics' schemas)."""
    data = subprocess.run(
        ["git", "archive", "--format=tar", "HEAD", "spark", "kafka/topics"], cwd=REPO, capture_output=True, check=True
    ).stdout
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(root, filter="data")
    return root


def jvm_of(outcome: dict[str, Any]) -> str:
    match = re.search(r"^jvm: pid=(\d+) application=(\S+)", outcome["log"], re.MULTILINE)
    assert match, outcome["log"][:2000]
    return f"{match[1]}/{match[2]}"


# --------------------------------------------------------------------------------------------------
# The rule


def test_the_rule_describes_a_package_and_a_batched_unit_tests_action() -> None:
    actions = toy_actions()
    package, tests = actions["package"], actions["unit-tests"]
    assert (package["action"].handler, package["action"].pool, package["action"].batch) == (
        "rules.checks.spark:package_jobs", "default", None
    )  # fmt: skip
    assert (tests["action"].handler, tests["action"].pool, tests["action"].batch) == (HANDLER, "spark", "spark-tests")
    assert {"python", "dist:pyspark", "cmd:java -version"} <= set(tests["action"].toolchain)
    assert package["request"] == {
        "job": "toy_job",
        "folder": "spark/jobs/toy_job",
        "job_root": "spark/jobs",
        "library_roots": ["spark/lib"],  # dags/ is a source root too, but the job imports nothing from it
        "files": [
            "spark/jobs/toy_job/__init__.py", "spark/jobs/toy_job/conf/defaults.json",
            "spark/jobs/toy_job/main.py", "spark/jobs/toy_job/transforms.py",
        ],
        "main": "main.py", "mode": "batch", "reads": [], "writes": ["table:lake.toy_tags"],
        "blobs": {path: blob_id_of(TOY[path].encode() if isinstance(TOY[path], str) else TOY[path])
                  for path in TOY if path.startswith("spark/jobs/toy_job/") and not path.endswith("/BUILD")},
    }  # fmt: skip
    assert tests["request"] == {**platform_request("toy_job")}


# --------------------------------------------------------------------------------------------------
# package: deterministic, complete, its sha256 its identity


def package(root: Path, scratch: Path, request: dict[str, Any] | None = None) -> dict[str, Any]:
    scratch.mkdir(parents=True, exist_ok=True)
    (outcome,) = package_jobs([request or toy_actions()["package"]["request"]], HandlerContext(root, scratch))
    return outcome


def test_the_package_holds_the_job_and_the_library_modules_it_imports(tmp_path: Path) -> None:
    root = write(tmp_path / "ws", TOY)
    outcome = package(root, tmp_path / "scratch")
    assert outcome["status"] == "passed", outcome
    path = Path(outcome["artifacts"]["package"])
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert f"sha256:{digest}" in outcome["summary"]
    assert outcome["summary"].startswith("toy_job: packaged 4 job files and 4 library modules")
    archive = zipfile.ZipFile(path)
    infos = archive.infolist()
    assert [i.filename for i in infos] == TOY_ARCHIVE  # sorted; no tests, no BUILD, no unused module, no folders
    assert {(i.date_time, i.external_attr >> 16, i.compress_type, i.create_system) for i in infos} == {
        (ZIP_DATE_TIME, 0o100644, zipfile.ZIP_STORED, 3)
    }
    manifest = json.loads(archive.read(MANIFEST))
    assert {k: manifest[k] for k in ("job", "entry_point", "entry_module", "mode", "reads", "writes")} == {
        "job": "toy_job", "entry_point": "toy_job/main.py", "entry_module": "toy_job.main", "mode": "batch",
        "reads": [], "writes": ["table:lake.toy_tags"],
    }  # fmt: skip
    assert [f["path"] for f in manifest["files"]] == TOY_ARCHIVE[1:]
    for entry in manifest["files"]:
        assert entry["sha256"] == hashlib.sha256(archive.read(entry["path"])).hexdigest()


def test_the_same_sources_give_the_same_bytes_and_a_change_gives_new_ones(tmp_path: Path) -> None:
    root = write(tmp_path / "ws", TOY)
    sha = lambda n: package(root, tmp_path / f"scratch{n}")["summary"].rpartition("sha256:")[2]  # noqa: E731
    first = sha(1)
    for index, path in enumerate(sorted(p for p in root.rglob("*") if p.is_file())):  # mtimes and modes are not content
        os.utime(path, (1_700_000_000 + index * 977, 1_700_000_000 + index * 977))
        path.chmod(0o755 if index % 2 else 0o600)
    assert sha(2) == first
    assert Path(package(root, tmp_path / "scratch3")["artifacts"]["package"]).read_bytes() == Path(
        package(root, tmp_path / "scratch4")["artifacts"]["package"]
    ).read_bytes()
    unchanged = {"spark/lib/toylib/unused.py": "UNUSED = 2\n", "spark/jobs/toy_job/tests/test_toy_job.py": "def test_x(): pass\n"}
    write(root, unchanged)  # neither is in the package
    assert sha(5) == first
    for rel, text in {
        "spark/jobs/toy_job/transforms.py": TOY["spark/jobs/toy_job/transforms.py"] + "# reviewed\n",
        # imported through tag.py, relatively
        "spark/lib/toylib/text.py": "def clean(value):\n    return value.strip().lower()\n",
    }.items():
        write(root, {rel: text})
        changed = sha(6)
        assert changed != first, rel
        write(root, {rel: TOY[rel]})
        assert sha(7) == first


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    bodies=st.lists(st.text(st.characters(codec="utf-8", exclude_characters="\r"), max_size=40), min_size=1, max_size=4),
    order=st.randoms(use_true_random=False),
    mtimes=st.lists(st.integers(400_000_000, 2_000_000_000), min_size=8, max_size=8),
)
def test_two_checkouts_of_the_same_sources_package_identically(
    tmp_path_factory: pytest.TempPathFactory, bodies: list[str], order: Any, mtimes: list[int]
) -> None:
    """Invariant: the bytes depend on the files' names and contents only (not order, mtimes or checkout)."""
    files = dict(TOY)
    files.update({f"spark/jobs/toy_job/data/part{i}.txt": body for i, body in enumerate(bodies)})
    request = dict(toy_actions()["package"]["request"])
    request["files"] = [*request["files"], *(f"spark/jobs/toy_job/data/part{i}.txt" for i in range(len(bodies)))]
    outputs = []
    for checkout in range(2):
        root = write(tmp_path_factory.mktemp("checkout"), files)
        for path, mtime in zip(sorted(root.rglob("*.*")), mtimes * 4):
            os.utime(path, (mtime + checkout, mtime + checkout))
        shuffled = list(request["files"])
        order.shuffle(shuffled)
        outputs.append(build_package(root, {**request, "files": shuffled if checkout else request["files"]}))
    assert outputs[0] == outputs[1]


def test_a_syntax_error_fails_the_package_with_its_file_and_line(tmp_path: Path) -> None:
    root = write(tmp_path / "ws", {**TOY, "spark/lib/toylib/text.py": "def clean(value)\n    return value\n"})
    outcome = package(root, tmp_path / "scratch")
    assert outcome["status"] == "failed"
    assert outcome["summary"] == "toy_job: cannot package: spark/lib/toylib/text.py:1: syntax error: expected ':'"


LEAK = "FAKE-SECRET-MARKER-5d1e"  # stands for what /proc/self/environ holds


@pytest.mark.parametrize(
    ("link", "to", "refused"),
    [
        ("spark/jobs/toy_job/leak.py", "environ", "spark/jobs/toy_job/leak.py: this file is a symlink"),
        ("spark/jobs/toy_job/conf/defaults.json", "environ", "spark/jobs/toy_job/conf/defaults.json: this file is a symlink"),
        ("spark/lib/toylib/text.py", "environ", "spark/lib/toylib/text.py: this file is a symlink"),  # an imported module
        ("spark/lib/toylib", "lib", "spark/lib/toylib: this folder is a symlink"),  # a whole library folder
    ],
)
def test_drill_a_symlink_to_a_secret_is_never_packaged(tmp_path: Path, link: str, to: str, refused: str) -> None:
    """Drill (item 8): a job file, an imported module or a library folder linked to a file outside the
    workspace fails the package with the link's path; the secret is in no zip, summary or log."""
    outside = tmp_path / "outside"
    (outside / "lib").mkdir(parents=True)
    (outside / "environ").write_text(f"AWS_SECRET_ACCESS_KEY={LEAK}\n")
    for name in ("__init__.py", "tag.py", "text.py", "cli.py"):
        (outside / "lib" / name).write_text(f"{TOY['spark/lib/toylib/' + name]}# {LEAK}\n")
    root = write(tmp_path / "ws", TOY)
    target = root / link
    if target.is_dir():
        for child in sorted(target.iterdir()):
            child.unlink()
        target.rmdir()
    else:
        target.unlink(missing_ok=True)
    target.symlink_to(outside / to, target_is_directory=to == "lib")
    request = toy_actions()["package"]["request"]
    if link.endswith("leak.py"):
        request = {**request, "files": [*request["files"], link]}
    outcome = package(root, tmp_path / "scratch", request)
    assert outcome["status"] == "failed", outcome["summary"]
    assert refused in outcome["summary"] and "never follows symlinks" in outcome["summary"]
    assert LEAK not in str(outcome)
    leaked = [p for p in (tmp_path / "scratch").rglob("*") if p.is_file() and LEAK.encode() in p.read_bytes()]
    assert leaked == []


def test_a_package_error_is_a_graphbuild_error_with_the_file_line_and_fix(tmp_path: Path) -> None:
    """Review item 10: the symlink refusal keeps its file and fix as fields (a deploy names them), a
    syntax error its file and line; both are GraphbuildErrors, so the CLI prints them as one line."""
    from graphbuild.errors import GraphbuildError
    from rules.checks.spark_package import PackageError

    (tmp_path / "environ").write_text(f"AWS_SECRET_ACCESS_KEY={LEAK}\n")
    root = write(tmp_path / "ws", TOY)
    (root / "spark/lib/toylib/text.py").unlink()
    (root / "spark/lib/toylib/text.py").symlink_to(tmp_path / "environ")
    request = toy_actions()["package"]["request"]
    with pytest.raises(PackageError) as refused:
        build_package(root, request)
    assert isinstance(refused.value, GraphbuildError)
    assert (refused.value.file, refused.value.line) == ("spark/lib/toylib/text.py", None)
    assert refused.value.message == "this file is a symlink; graphbuild never follows symlinks"
    assert refused.value.fix is not None and refused.value.fix.startswith("replace the symlink with a regular file")
    assert LEAK not in json.dumps(refused.value.to_dict())
    (root / "spark/lib/toylib/text.py").unlink()
    (root / "spark/lib/toylib/text.py").write_text("def clean(value)\n")
    with pytest.raises(PackageError) as broken:
        build_package(root, request)
    assert (broken.value.file, broken.value.line, broken.value.message) == ("spark/lib/toylib/text.py", 1, "syntax error: expected ':'")


def test_every_platform_job_packages_the_same_twice() -> None:
    from graphbuild.run.runner import collect_actions
    from graphbuild.session import Session

    with Session.open(REPO) as session:
        labels = [label for label, target in session.graph().targets.items() if target.kind == "spark_job"]
        requests = [thaw(a.request) for a in collect_actions(session, labels) if a.name == "package"]
    assert len(requests) == 15
    digests = []
    for attempt in range(2):
        for request in requests:
            data = build_package(REPO, request)
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
            assert f"{request['job']}/{request['main']}" in names and "finsight_spark/__init__.py" in names
            assert not [n for n in names if "/tests/" in n]
            digests.append((attempt, request["job"], hashlib.sha256(data).hexdigest()))
    assert [d[1:] for d in digests[:15]] == [d[1:] for d in digests[15:]]


# --------------------------------------------------------------------------------------------------
# unit-tests: one real worker (one JVM) for every test below


@pytest.fixture(scope="module")
def pools():
    from graphbuild.run.pool import WorkerPools

    pools = WorkerPools(REPO)
    yield pools
    pools.close()


def run_in_worker(pools: Any, root: Path, requests: list[dict[str, Any]], scratch: Path) -> list[dict[str, Any]]:
    message = {"handler": HANDLER, "requests": requests, "root": str(root), "scratch": str(scratch)}
    answer = pools.call("spark", message, timeout_s=900)
    assert len(answer["results"]) == len(requests), answer
    return answer["results"]


def test_a_job_whose_test_fails_fails_naming_the_test_and_line(pools: Any, tmp_path: Path) -> None:
    root = committed_platform(tmp_path / "ws")
    request = platform_request("chargeback_ingest")
    (good,) = run_in_worker(pools, root, [request], tmp_path / "s1")
    assert good["status"] == "passed", good["summary"] + "\n" + good["log"][-3000:]
    assert re.match(r"chargeback_ingest: \d+ tests passed in ", good["summary"]), good["summary"]

    transforms = root / "spark/jobs/chargeback_ingest/transforms.py"
    text = transforms.read_text()
    assert 'OPENED = "opened"' in text
    transforms.write_text(text.replace('OPENED = "opened"', 'OPENED = "open"'))
    (bad,) = run_in_worker(pools, root, [request], tmp_path / "s2")  # same worker: it must not serve the old module
    test_file = root / "spark/jobs/chargeback_ingest/tests/test_chargeback_ingest.py"
    lines = test_file.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "(t1.network, t1.status, t1.currency, t1.amount_minor)" in text)
    test_id = "spark/jobs/chargeback_ingest/tests/test_chargeback_ingest.py::test_one_open_chargeback_per_charged_back_payment"
    assert bad["status"] == "failed"
    assert re.match(rf"chargeback_ingest: \d+ of \d+ tests failed; {re.escape(test_id)}: ", bad["summary"]), bad["summary"]
    assert f"tests/test_chargeback_ingest.py:{line}: AssertionError: assert ('visa', 'open'" in bad["summary"]
    assert f"FAILED {test_id} (call)" in bad["log"]
    assert jvm_of(good) == jvm_of(bad)


def test_two_jobs_in_one_call_share_one_jvm(pools: Any, tmp_path: Path) -> None:
    root = committed_platform(tmp_path / "ws")
    requests = [platform_request("transfers_ingest"), platform_request("chargeback_ingest")]
    outcomes = run_in_worker(pools, root, requests, tmp_path / "s")
    assert [o["status"] for o in outcomes] == ["passed", "passed"], [o["summary"] for o in outcomes]
    first, second = (jvm_of(o) for o in outcomes)
    assert first == second
    pid = int(first.partition("/")[0])
    if Path(f"/proc/{pid}/exe").exists():
        assert Path(f"/proc/{pid}/exe").resolve().name == "java"
    assert pools.started["spark"] == 1  # every test of this module ran in the one worker


def test_a_udf_module_changed_between_calls_is_not_served_stale(pools: Any, tmp_path: Path) -> None:
    """Spark's Python workers outlive a call and keep their imports; changed code gets fresh ones."""
    root = write(tmp_path / "ws", TOY)  # no conftest: the handler's own `spark` fixture serves the session
    request = toy_actions()["unit-tests"]["request"]
    (first,) = run_in_worker(pools, root, [request], tmp_path / "s1")
    assert first["status"] == "passed", first["log"][-3000:]
    write(root, {"spark/lib/toylib/tag.py": TOY["spark/lib/toylib/tag.py"].replace('"v1-"', '"v2-"')})
    (second,) = run_in_worker(pools, root, [request], tmp_path / "s2")
    assert second["status"] == "passed", second["log"][-3000:]  # a stale worker would still tag "v1-x"
    assert jvm_of(first) == jvm_of(second)


def test_a_worker_whose_jvm_died_starts_a_new_one(pools: Any, tmp_path: Path) -> None:
    import signal

    root = write(tmp_path / "ws", TOY)
    request = toy_actions()["unit-tests"]["request"]
    (before,) = run_in_worker(pools, root, [request], tmp_path / "s1")
    os.kill(int(jvm_of(before).partition("/")[0]), signal.SIGKILL)
    (after,) = run_in_worker(pools, root, [request], tmp_path / "s2")
    assert after["status"] == "passed", after["log"][-3000:]
    assert jvm_of(after) != jvm_of(before)
    assert pools.started["spark"] == 1


def test_a_test_module_that_cannot_be_imported_fails_with_its_file(pools: Any, tmp_path: Path) -> None:
    root = write(tmp_path / "ws", {**TOY, "spark/jobs/toy_job/transforms.py": "def tagged(frame)\n    return frame\n"})
    (outcome,) = run_in_worker(pools, root, [toy_actions()["unit-tests"]["request"]], tmp_path / "s")
    assert outcome["status"] == "failed"
    assert outcome["summary"] == (
        "toy_job: spark/jobs/toy_job/tests/test_toy_job.py could not be collected: "
        "spark/jobs/toy_job/transforms.py:1: SyntaxError: expected ':'"
    )


def test_a_job_whose_tests_all_skip_is_skipped_with_the_reason(pools: Any, tmp_path: Path) -> None:
    skipping = 'import pytest\n\n\ndef test_on_emr():\n    pytest.skip("needs an EMR cluster")\n'
    root = write(tmp_path / "ws", {**TOY, "spark/jobs/toy_job/tests/test_toy_job.py": skipping})
    (outcome,) = run_in_worker(pools, root, [toy_actions()["unit-tests"]["request"]], tmp_path / "s")
    assert (outcome["status"], outcome["summary"]) == ("skipped", "toy_job: all 1 tests were skipped: needs an EMR cluster")


def test_a_job_without_tests_fails_unless_tests_are_optional(tmp_path: Path) -> None:
    root = write(tmp_path / "ws", {k: v for k, v in TOY.items() if "/tests/" not in k})
    request = toy_actions()["unit-tests"]["request"]
    required, optional = run_job_tests([request, {**request, "require_tests": False}], HandlerContext(root, tmp_path / "s"))
    assert (required["status"], optional["status"]) == ("failed", "skipped")
    assert required["summary"] == "toy_job: no unit tests: spark/jobs/toy_job/tests does not exist"


@pytest.mark.slow
def test_all_platform_jobs_pass_in_one_worker_call(pools: Any, tmp_path: Path) -> None:
    """`graphbuild test` on every Spark job of the platform: the rule's requests, one batched call, one JVM."""
    from graphbuild.run.runner import collect_actions
    from graphbuild.session import Session

    with Session.open(REPO) as session:
        labels = [label for label, target in session.graph().targets.items() if target.kind == "spark_job"]
        actions = [a for a in collect_actions(session, labels) if a.name == "unit-tests"]
    assert len(actions) == 15 and {a.batch for a in actions} == {"spark-tests"}
    requests = [thaw(a.request) for a in actions]
    assert requests == [platform_request(r["job"]) for r in requests]
    outcomes = run_in_worker(pools, REPO, requests, tmp_path / "s")
    assert [o["summary"] for o in outcomes if o["status"] != "passed"] == []
    assert len({jvm_of(o) for o in outcomes}) == 1
