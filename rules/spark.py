"""``spark_job``: a package under ``spark/jobs/<name>/`` that owns every file in its folder.

Its BUILD target declares what it reads and writes (``topic:<name>``, ``table:<schema.table>``):
reads become requirements, writes are provided, so a dbt source on a table the job writes and a
DAG running the job (``spark:job:<name>``) both depend on it.

Its actions (handlers in ``rules.checks.spark``):

- ``package``: a deterministic zip of the job (its sources without tests, plus the library modules
  it imports), whose sha256 is its identity; pool ``default``.
- ``unit-tests``: the job's ``tests/`` with pytest on pyspark in local mode, in the ``spark`` pool's
  persistent worker that keeps one JVM for every job (batch ``spark-tests``).

Settings, ``[rules.spark]``: ``tests`` (``"tests"``, the tests folder inside a job), ``require_tests``
(``true``: a job without tests fails), ``master`` (``"local[2]"``, for a workspace without a ``spark``
fixture of its own), ``conftest_root`` (the folder holding the job root, ``spark``: conftest files
from there down are loaded), ``test_timeout_s`` (``600`` per job) and ``package_timeout_s`` (``120``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import Field as Setting

from graphbuild import Digest, Field, Origin, Requirement, RuleContext, RuleSettings, Target, TargetType
from graphbuild.buildfiles import Declaration
from graphbuild.errors import BuildFileError
from graphbuild.rule import CHECKS_ONLY
from graphbuild.ownership import Proposal
from graphbuild.run.action import Action
from graphbuild.values import FrozenDict
from rules.digests.python import PYTHON, import_requirements, module_name
from rules.digests.structured import JSON, TOML, YAML
from rules.python import python_provides, source_roots

__all__ = ["rule"]

_MODES = ("batch", "streaming")
_PREFIXES = ("topic:", "table:")
_STRUCTURED = {"json": JSON, "yaml": YAML, "yml": YAML, "toml": TOML}
# [rules.spark] settings read by the actions, with their defaults
_TESTS = "tests"
_MASTER = "local[2]"
_TEST_TIMEOUT_S = 600.0
_PACKAGE_TIMEOUT_S = 120.0


class SparkSettings(RuleSettings):
    """``[rules.spark]``; the rule reads ``[rules.python] source_roots`` too (a job's imports and job root)."""

    tests: str = Setting(default=_TESTS, description="The tests folder inside a job folder (not packaged).")
    require_tests: bool = Setting(
        default=True, description="A job without tests fails its unit-tests action.", json_schema_extra=CHECKS_ONLY
    )
    master: str = Setting(
        default=_MASTER,
        description="The Spark master for a workspace without a `spark` pytest fixture of its own.",
        json_schema_extra=CHECKS_ONLY,
    )
    conftest_root: str | None = Setting(
        default=None,
        description="The folder from which conftest.py files are loaded down to the job (default: the folder "
        "holding the job root, e.g. spark).",
        json_schema_extra=CHECKS_ONLY,
    )
    test_timeout_s: float = Setting(
        default=_TEST_TIMEOUT_S, gt=0, description="Timeout of one job's unit-tests, in seconds.", json_schema_extra=CHECKS_ONLY
    )
    package_timeout_s: float = Setting(
        default=_PACKAGE_TIMEOUT_S,
        gt=0,
        description="Timeout of one job's package action, in seconds.",
        json_schema_extra=CHECKS_ONLY,
    )


class SparkRule:
    name = "spark"
    version = "1"
    settings_model, settings_read = SparkSettings, ("python",)
    target_types = (
        TargetType(
            "spark_job",
            fields=(
                Field("main", str, "main.py", "The entry point, relative to the job's folder."),
                Field("mode", str, "batch", "batch or streaming."),
                Field("reads", tuple, (), 'What it reads: "topic:<name>" or "table:<schema.table>".'),
                Field("writes", tuple, (), 'What it writes: "topic:<name>" or "table:<schema.table>".'),
                Field("sources", tuple, ("**/*",), "Globs of the job's files (default: its whole folder)."),
            ),
            help="A Spark job package with its entry point, transforms and tests.",
        ),
    )

    def expand(self, declaration: Declaration, values: FrozenDict, ctx: RuleContext) -> Iterable[Target]:
        where = {"file": declaration.file, "line": declaration.line}
        if values["mode"] not in _MODES:
            raise BuildFileError(f"spark_job(mode={values['mode']!r}) is not one of {_MODES}", fix="use batch or streaming", **where)
        for key in ("reads", "writes"):
            for item in values[key]:
                if not isinstance(item, str) or not item.startswith(_PREFIXES) or len(item.split(":", 1)[1]) == 0:
                    raise BuildFileError(
                        f"spark_job({key}=[...]) has {item!r}",
                        fix='write "topic:<topic name>" or "table:<schema.table>"',
                        **where,
                    )
        sources = ctx.glob(declaration, "sources", values) + _ancestor_conftests(declaration.package, ctx)
        main = f"{declaration.package}/{values['main']}"
        if main not in sources:
            raise BuildFileError(f"spark_job(main={values['main']!r}): {main} does not exist", fix="point main at the entry point file", **where)
        roots = source_roots(ctx)
        requires = [Requirement(item, Origin(declaration.file, declaration.line, f"reads {item}")) for item in values["reads"]]
        for path in sources:
            if path.endswith(".py"):
                requires += import_requirements(path, ctx.snapshot.facts(path, PYTHON), roots)
        yield ctx.target(
            declaration,
            values,
            rule=self.name,
            kind="spark_job",
            sources=sources,
            attributes={k: values[k] for k in ("main", "mode", "reads", "writes")},
            provides={f"spark:job:{values['name']}", *values["writes"], *python_provides(sources, roots)},
            requires=requires,
        )

    def digest(self, target: Target, ctx: RuleContext) -> Digest:
        code: dict[str, Any] = {}
        prefix = target.label.package + "/"
        for path in target.sources:
            extension = path.rpartition(".")[2]
            if path.endswith(".py"):
                value: Any = ctx.snapshot.facts(path, PYTHON)["digest"]
            elif extension in _STRUCTURED:
                value = ctx.snapshot.facts(path, _STRUCTURED[extension])["value"]
            else:
                value = ctx.snapshot.blob_id(path)
            code[path.removeprefix(prefix) if path.startswith(prefix) else path] = value
        return Digest.of({"file": code})

    def actions(self, target: Target, ctx: RuleContext) -> Iterable[Action]:
        """``package`` and ``unit-tests`` of one job; the requests hold workspace-relative paths only."""
        if target.kind != "spark_job":
            return ()
        settings = ctx.rule_settings
        folder = target.label.package
        roots = tuple(r.strip("/") for r in source_roots(ctx))
        job_root = _job_root(folder, roots)
        libraries = _library_roots(target, roots, job_root, ctx)
        tests = f"{folder}/{str(settings.get('tests', _TESTS)).strip('/')}"
        attributes = target.attributes
        package = {
            "job": target.label.name,
            "folder": folder,
            "job_root": job_root,
            "library_roots": libraries,
            "files": [p for p in target.sources if p.startswith(folder + "/") and not p.startswith(tests + "/")],
            # raw blob ids: the zip's bytes follow its sources' bytes, comments included
            "blobs": {p: ctx.snapshot.blob_id(p) for p in target.sources if p.startswith(folder + "/")},
            "main": str(attributes["main"]),
            "mode": str(attributes["mode"]),
            "reads": list(attributes["reads"]),
            "writes": list(attributes["writes"]),
        }
        unit_tests = {
            "job": target.label.name,
            "folder": folder,
            "tests": tests,
            "import_roots": [job_root, *libraries],
            "conftest_root": str(settings.get("conftest_root", job_root.rpartition("/")[0])).strip("/"),
            "master": str(settings.get("master", _MASTER)),
            "require_tests": bool(settings.get("require_tests", True)),
        }
        return (
            Action.of(
                target.label, "package", "rules.checks.spark:package_jobs", package,
                pool="default", timeout_s=float(settings.get("package_timeout_s", _PACKAGE_TIMEOUT_S)), toolchain=("python",),
            ),
            Action.of(
                target.label, "unit-tests", "rules.checks.spark:run_job_tests", unit_tests,
                pool="spark", timeout_s=float(settings.get("test_timeout_s", _TEST_TIMEOUT_S)),
                toolchain=("python", "dist:pyspark", "dist:pytest", "cmd:java -version"), batch="spark-tests",
            ),
        )  # fmt: skip

    def deploy_steps(self, target: Target, ctx: Any) -> Iterable[Any]:
        """``publish`` the job's zip by digest; a streaming job is stopped before and started after.

        Handled in ``rules.deploy.<backend>``; ``ctx`` is a ``graphbuild.plan.definition.DeployPlanContext``.
        """
        if target.kind != "spark_job":
            return ()
        from rules.deploy.spark_local import publish_steps  # the deploy side is imported only when planning

        return publish_steps(target, ctx)

    def tailor(self, paths: tuple[str, ...], ctx: RuleContext) -> Iterable[Proposal]:
        """A job folder (``<...>/jobs/<name>/`` holding ``main.py``) gets ``spark_job()``, owning every file below it.

        Its reads and writes are left for its author to declare (the job runs without them; edges need them).
        """
        folders = sorted({p.rpartition("/")[0] for p in paths if p.endswith("/main.py") and _is_job_folder(p.rpartition("/")[0])})
        for folder in folders:
            if not any(folder.startswith(other + "/") for other in folders):  # a nested main.py is the outer job's file
                yield Proposal(folder, 'spark_job(main="main.py")', tuple(p for p in paths if p.startswith(folder + "/")))


def _is_job_folder(folder: str) -> bool:
    """``spark/jobs/<name>``: a folder directly inside a folder named ``jobs`` (the platform's convention)."""
    parent = folder.rpartition("/")[0]
    return bool(parent) and parent.rpartition("/")[2] == "jobs"


def _ancestor_conftests(folder: str, ctx: RuleContext) -> tuple[str, ...]:
    """``conftest.py`` files above the job within its top folder (``spark/conftest.py``): its tests load them."""
    top = folder.split("/", 1)[0]
    found = []
    parent = folder.rpartition("/")[0]
    while parent and (parent == top or parent.startswith(top + "/")):
        candidate = f"{parent}/conftest.py"
        if ctx.snapshot.blob_id(candidate):
            found.append(candidate)
        parent = parent.rpartition("/")[0]
    return tuple(found)


def _job_root(folder: str, roots: tuple[str, ...]) -> str:
    """The import root the job's package lives under (its module is the folder's name there)."""
    name = module_name(f"{folder}/__init__.py", roots)
    if name is None:
        return folder.rpartition("/")[0]
    depth = name.count(".") + 1
    return "/".join(folder.split("/")[:-depth])


def _library_roots(target: Target, roots: tuple[str, ...], job_root: str, ctx: RuleContext) -> list[str]:
    """The other import roots holding a package the job imports (``spark/lib`` for ``finsight_spark``)."""
    tops = {r.symbol.removeprefix("python:").split(".")[0] for r in target.requires if r.symbol.startswith("python:")}
    found = []
    for root in roots:
        prefix = f"{root}/" if root else ""
        if root != job_root and any(
            ctx.snapshot.blob_id(f"{prefix}{top}/__init__.py") is not None or ctx.snapshot.blob_id(f"{prefix}{top}.py") is not None
            for top in sorted(tops)
        ):
            found.append(root)
    return found


rule = SparkRule()
