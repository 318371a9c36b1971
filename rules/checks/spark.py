"""The ``spark_job`` checks: a deterministic package of the job, and its unit tests on pyspark in local mode.

``package`` (``package_jobs``, pool ``default``) is in ``rules.checks.spark_package``: a deterministic zip of
the job and the library modules it imports, whose sha256 is its identity.

``unit-tests`` (``run_job_tests``, pool ``spark``) runs each job's tests folder with ``pytest.main`` in
the worker's own process, so pyspark is imported and the JVM started once per worker and one local
SparkSession serves every job of every call. The workspace's own conftest files (from
``conftest_root`` down, e.g. ``spark/conftest.py`` with its ``spark``, ``lake`` and ``schema_root``
fixtures) are loaded as a plain ``pytest spark/`` would; a plugin supplies a fallback ``spark`` fixture
for workspaces without one and turns ``stop()`` into a no-op during the run, so a conftest's
session-scoped fixture gets (``getOrCreate``) and leaves the worker's session. The repository's own
conftest and pytest settings are not read (``-c`` an empty ini, ``--confcutdir``).

A persistent worker must never serve stale code: every module imported from the workspace during a
job's run (the job, its tests, the library, conftest files) is dropped from ``sys.modules`` afterwards,
and Spark's Python workers (which run UDFs and keep their imports) are keyed by the import path and a
digest of the workspace code through ``SparkContext.environment``, so changed code gets fresh ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from graphbuild.run.action import HandlerContext
from rules.checks.spark_package import MANIFEST, ZIP_DATE_TIME, PackageError, build_package, package_jobs

__all__ = [
    "MANIFEST",
    "ZIP_DATE_TIME",
    "PackageError",
    "bench_worker_vs_per_job",
    "build_package",
    "package_jobs",
    "run_job_tests",
]

_CODE_ENV = "GRAPHBUILD_SPARK_CODE"  # keys Spark's Python workers by the code they may import
_OUTPUT_LIMIT = 20_000  # characters of pytest's own output kept in a log
_SKIPPED_DIRS = frozenset({"__pycache__", "site-packages", "node_modules"})
# A frame in pytest's text of a collection error: `path.py:12: in <module>` or `File "path.py", line 12`.
_FRAME = re.compile(r'^(?P<path>\S+\.py):(?P<line>\d+): in |File "(?P<quoted>[^"]+)", line (?P<quoted_line>\d+)', re.MULTILINE)

# Local-mode settings of the fallback session (a workspace whose conftest defines no `spark` fixture).
_LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC -XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}


# --------------------------------------------------------------------------------------------------
# unit-tests

_STATE: dict[str, Any] = {}  # the worker's SparkContext survives calls: keeping its JVM is the pool's point


def run_job_tests(requests: list[dict[str, Any]], ctx: HandlerContext) -> list[dict[str, Any]]:
    """Run each job's unit tests in this process, on the one local SparkSession of the worker."""
    digests: dict[tuple[str, ...], str] = {}
    results = []
    _forget_a_dead_jvm()
    for request in requests:
        roots = tuple(request["import_roots"])
        if roots not in digests:
            digests[roots] = _code_digest(ctx.root, roots)
        results.append(_test_job(request, ctx, digests[roots]))
    return results


def _test_job(request: dict[str, Any], ctx: HandlerContext, code_digest: str) -> dict[str, Any]:
    import pytest

    job = request["job"]
    tests = ctx.root / request["tests"]
    if not tests.is_dir():
        return _no_tests(request, f"{request['tests']} does not exist")
    import_roots = [ctx.root / r if r else ctx.root for r in request["import_roots"]]
    conftest_root = ctx.root / request["conftest_root"] if request["conftest_root"] else ctx.root
    own_dirs = [*import_roots, conftest_root, tests]
    environment = {"PYTHONPATH": os.pathsep.join(str(p) for p in import_roots), _CODE_ENV: code_digest}
    plugin = _plugin(environment, request["master"])
    args = _pytest_args(tests, conftest_root, ctx, job)
    saved_path, saved_pythonpath = list(sys.path), os.environ.get("PYTHONPATH")
    known_paths = [Path(p).resolve() for p in sys.path if p]
    _purge(own_dirs, known_paths, before=None)  # copies left by an earlier call, if any
    before = set(sys.modules)
    sys.path[:0] = [str(p) for p in import_roots if str(p) not in sys.path]
    output = io.StringIO()
    start = time.perf_counter()
    try:
        with _kept_alive(), contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            code = int(pytest.main(args, plugins=[plugin]))
    finally:
        elapsed = time.perf_counter() - start
        sys.path[:] = saved_path
        if saved_pythonpath is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved_pythonpath
        _purge(own_dirs, known_paths, before=before)
        _release_cached_data()
    return _outcome(request, plugin, code, elapsed, output.getvalue(), ctx.root)


def _pytest_args(tests: Path, conftest_root: Path, ctx: HandlerContext, job: str) -> list[str]:
    """The job's tests folder; conftest files from ``conftest_root`` down; none of the repository's settings."""
    ini = ctx.scratch / "pytest.ini"
    (ctx.scratch / "pytest").mkdir(parents=True, exist_ok=True)
    ini.write_text("[pytest]\n")
    return [
        str(tests), "-q", "-p", "no:cacheprovider", "-c", str(ini), "--rootdir", str(ctx.root),
        "--confcutdir", str(conftest_root), "--basetemp", str(ctx.scratch / "pytest" / job),
        "-W", "ignore::pytest.PytestAssertRewriteWarning",  # plugins the worker imported before pytest
    ]  # fmt: skip


def _no_tests(request: dict[str, Any], why: str) -> dict[str, Any]:
    status = "failed" if request.get("require_tests", True) else "skipped"
    return {"status": status, "summary": f"{request['job']}: no unit tests: {why}", "log": why}


def _outcome(request: dict[str, Any], plugin: Any, code: int, elapsed: float, output: str, root: Path) -> dict[str, Any]:
    job = request["job"]
    counts = {s: sum(1 for v in plugin.tests.values() if v == s) for s in ("passed", "failed", "skipped")}
    total = len(plugin.tests)
    jvm = _jvm_line()
    tally = f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    head = [jvm, f"{job}: {tally} in {elapsed:.1f} s (pytest exit code {code})"]
    details = [f"FAILED {r.nodeid} ({r.when})\n{r.longreprtext}" for r in plugin.failures]
    details += [f"ERROR collecting {r.nodeid}\n{r.longreprtext}" for r in plugin.errors]
    log = "\n\n".join(["\n".join(head), *details, "--- pytest ---\n" + output[-_OUTPUT_LIMIT:]])
    if plugin.errors:
        report = plugin.errors[0]
        summary = f"{job}: {report.nodeid or request['tests']} could not be collected: {_crash(report, root)}"
        return {"status": "failed", "summary": summary, "log": log}
    if plugin.failures:
        report = plugin.failures[0]
        where = "" if report.when == "call" else f" in {report.when}"
        summary = f"{job}: {counts['failed']} of {total} tests failed; {report.nodeid}{where}: {_crash(report, root)}"
        return {"status": "failed", "summary": summary, "log": log}
    if code == 5 or total == 0:
        return {**_no_tests(request, f"pytest collected no tests in {request['tests']}"), "log": log}
    if code != 0:
        return {"status": "failed", "summary": f"{job}: pytest stopped with exit code {code} ({request['tests']})", "log": log}
    if counts["passed"] == 0:
        reason = _skip_reason(plugin.skips[0]) if plugin.skips else "no reason given"
        return {"status": "skipped", "summary": f"{job}: all {total} tests were skipped: {reason}", "log": log}
    skipped = f", {counts['skipped']} skipped" if counts["skipped"] else ""
    plural = "" if counts["passed"] == 1 else "s"
    summary = f"{job}: {counts['passed']} test{plural} passed{skipped} in {elapsed:.1f} s"
    return {"status": "passed", "summary": summary, "log": log}


def _skip_reason(report: Any) -> str:
    longrepr = report.longrepr  # (file, line, "Skipped: why") for a skip
    return str(longrepr[2]).removeprefix("Skipped: ") if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


def _crash(report: Any, root: Path) -> str:
    """``file:line: message`` of where the failure was raised (workspace-relative where possible)."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        message = crash.message.strip().splitlines()[0] if crash.message.strip() else "failed"
        return f"{_relative(crash.path, root)}:{crash.lineno}: {message}"
    text = str(report.longrepr)  # a collection error: pytest's text, whose last frame is the deepest
    errors = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    message = errors[-1] if errors else (text.strip().splitlines() or ["no details"])[-1].strip()
    frames = [m for m in _FRAME.finditer(text) if not _is_installed(Path(m["path"] or m["quoted"]))]
    if not frames:
        return message
    last = frames[-1]
    return f"{_relative(last['path'] or last['quoted'], root)}:{last['line'] or last['quoted_line']}: {message}"


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path


def _plugin(environment: dict[str, str], master: str) -> Any:
    """The pytest plugin of one job's run: results per test, the fallback session, Python workers' env."""
    import pytest

    class Plugin:
        def __init__(self) -> None:
            self.tests: dict[str, str] = {}  # nodeid -> passed | failed | skipped
            self.failures: list[Any] = []
            self.errors: list[Any] = []
            self.skips: list[Any] = []

        @pytest.fixture(scope="session", name="spark")
        def spark_session(self) -> Any:
            """The worker's session, for a workspace whose conftest has no ``spark`` fixture."""
            return _fallback_session(master, environment)

        def pytest_sessionstart(self) -> None:
            _apply_environment(environment)

        @pytest.hookimpl(wrapper=True)
        def pytest_fixture_setup(self) -> Iterator[Any]:
            result = yield
            _apply_environment(environment)  # a session made by this fixture gets it before any UDF runs
            return result

        def pytest_collectreport(self, report: Any) -> None:
            if report.failed:
                self.errors.append(report)

        def pytest_runtest_logreport(self, report: Any) -> None:
            status = self.tests.get(report.nodeid)
            if report.failed:
                if status != "failed":
                    self.failures.append(report)
                self.tests[report.nodeid] = "failed"
            elif report.skipped and status is None:
                self.tests[report.nodeid] = "skipped"
                self.skips.append(report)
            elif report.when == "call" and status is None:
                self.tests[report.nodeid] = "passed"

    return Plugin()


@contextlib.contextmanager
def _kept_alive() -> Iterator[None]:
    """``stop()`` does nothing while the tests run: a fixture's teardown must not end the worker's JVM."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    saved = SparkSession.stop, SparkContext.stop

    def keep(self: Any) -> None:
        _STATE["context"] = SparkContext._active_spark_context

    SparkSession.stop = keep  # type: ignore[method-assign]
    SparkContext.stop = keep  # type: ignore[method-assign]
    try:
        yield
    finally:
        SparkSession.stop, SparkContext.stop = saved  # type: ignore[method-assign]
        _STATE["context"] = SparkContext._active_spark_context


def _fallback_session(master: str, environment: dict[str, str]) -> Any:
    from pyspark.sql import SparkSession

    existing = SparkSession.getActiveSession() or SparkSession._instantiatedSession
    if existing is not None:
        return existing
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    warehouse = _STATE.setdefault("warehouse", tempfile.mkdtemp(prefix="graphbuild-spark-warehouse-"))
    builder = SparkSession.builder.master(master).appName("graphbuild-unit-tests")
    for key, value in {**_LOCAL_CONF, "spark.sql.warehouse.dir": warehouse}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    _apply_environment(environment)
    return session


def _forget_a_dead_jvm() -> None:
    """A JVM that died since the last call (killed, out of memory) is replaced by the next session, not reused."""
    if "context" not in _STATE:
        return  # pyspark is not even imported yet
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    context = SparkContext._active_spark_context
    if context is None:
        return
    try:
        context._jvm.java.lang.System.currentTimeMillis()
    except Exception:
        SparkContext._active_spark_context = None
        SparkContext._gateway = None
        SparkContext._jvm = None
        SparkSession._instantiatedSession = None
        SparkSession._activeSession = None
        _STATE["context"] = None


def _release_cached_data() -> None:
    """What a job's tests cached stays with that job: the worker's memory does not grow call after call."""
    from pyspark.sql import SparkSession

    session = SparkSession._instantiatedSession
    if session is not None:
        with contextlib.suppress(Exception):
            session.catalog.clearCache()


def _apply_environment(environment: dict[str, str]) -> None:
    """Python workers started for this context from now on import this job's code, not an earlier one's."""
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    if context is not None:
        context.environment.update(environment)


def _jvm_line() -> str:
    """``jvm: pid=<pid> application=<id> spark=<version>`` of the worker's context."""
    context = _STATE.get("context")
    if context is None:
        return "jvm: none started"
    try:
        pid = context._jvm.java.lang.ProcessHandle.current().pid()
    except Exception:  # an older JVM: the runtime bean's name is "<pid>@<host>"
        pid = str(context._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getName()).partition("@")[0]
    return f"jvm: pid={pid} application={context.applicationId} spark={context.version} master={context.master}"


def _code_digest(root: Path, roots: Iterable[str]) -> str:
    """sha256 over every Python file of the import roots (paths and bytes)."""
    digest = hashlib.sha256()
    for top in roots:
        base = root / top if top else root
        for folder, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
            for name in sorted(files):
                if name.endswith(".py"):
                    path = Path(folder, name)
                    digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _purge(own_dirs: list[Path], known_paths: list[Path], *, before: set[str] | None) -> None:
    """Forget modules of the workspace's code: under ``own_dirs``, or (when new) found outside ``known_paths``."""
    owned = [d.resolve() for d in own_dirs]
    for name, module in list(sys.modules.items()):
        files = [getattr(module, "__file__", None), *(getattr(module, "__path__", None) or ())]
        paths = [Path(f).resolve() for f in files if isinstance(f, str)]
        if not paths or any(_is_installed(p) for p in paths):
            continue
        is_own = any(p.is_relative_to(d) for p in paths for d in owned)
        is_stray = before is not None and name not in before and not any(p.is_relative_to(k) for p in paths for k in known_paths)
        if is_own or is_stray:
            del sys.modules[name]


def _is_installed(path: Path) -> bool:
    """Under the standard library or site-packages: never the workspace's code, never purged."""
    if "installed" not in _STATE:
        keys = ("stdlib", "platstdlib", "purelib", "platlib")
        _STATE["installed"] = tuple({Path(p).resolve() for key in keys if (p := sysconfig.get_path(key))})
    resolved = path.resolve()
    return any(resolved.is_relative_to(i) for i in _STATE["installed"])


# --------------------------------------------------------------------------------------------------
# benchmark


def bench_worker_vs_per_job(root: Path, jobs: list[str]) -> dict[str, Any]:
    """Wall time of the jobs' tests in one persistent worker (one JVM) against one fresh process (and JVM) per job.

    (a) one ``run_job_tests`` call with every job, through a real worker of the engine's pool, counting
    the worker's start and its JVM's; (b) ``python -m pytest <job>/tests`` per job, as CI without
    graphbuild would run them. The requests come from the rule, through the workspace's graph::

        bench_worker_vs_per_job(Path("."), ["chargeback_ingest", "transfers_ingest", "payments_stream_ingest"])
        # measured on 2 shared cores: {"jobs": 3, "worker_s": 30.05, "per_job_s": 61.53, "speedup": 2.05, ...}
    """
    from graphbuild.run.pool import WorkerPools
    from graphbuild.run.runner import collect_actions
    from graphbuild.session import Session
    from graphbuild.values import thaw

    root = Path(root).resolve()
    with Session.open(root) as session:
        graph = session.graph()
        labels = [label for label, t in graph.targets.items() if t.kind == "spark_job" and label.name in jobs]
        actions = [a for a in collect_actions(session, labels) if a.name == "unit-tests"]
    requests = sorted((thaw(a.request) for a in actions), key=lambda r: jobs.index(r["job"]))
    missing = sorted(set(jobs) - {r["job"] for r in requests})
    if missing:
        raise ValueError(f"no spark_job named {', '.join(missing)} in {root}")
    with tempfile.TemporaryDirectory(prefix="graphbuild-spark-bench-") as tmp:
        pools = WorkerPools(root)
        message = {"handler": f"{__name__}:run_job_tests", "requests": requests, "root": str(root), "scratch": f"{tmp}/worker"}
        start = time.perf_counter()
        try:
            answer = pools.call("spark", message, timeout_s=600.0 * len(requests))
        finally:
            worker_s = time.perf_counter() - start
            pools.close()
        per_job: dict[str, float] = {}
        exit_codes: dict[str, int] = {}
        for request in requests:
            basetemp = f"{tmp}/{request['job']}"
            command = [sys.executable, "-m", "pytest", request["tests"], "-q", "-p", "no:cacheprovider", "--basetemp", basetemp]
            start = time.perf_counter()
            done = subprocess.run(command, cwd=root, capture_output=True, text=True)
            per_job[request["job"]] = round(time.perf_counter() - start, 2)
            exit_codes[request["job"]] = done.returncode
    total = sum(per_job.values())
    return {
        "jobs": len(requests),
        "worker_s": round(worker_s, 2),
        "per_job_s": round(total, 2),
        "speedup": round(total / worker_s, 2) if worker_s else None,
        "per_job": per_job,
        "worker_statuses": {r["job"]: o["status"] for r, o in zip(requests, answer["results"])},
        "per_job_exit_codes": exit_codes,
    }
