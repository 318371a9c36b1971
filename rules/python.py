"""``python_library``: shared Python code (``dags/common/``, ``spark/lib/``), one target per module.

One target per file (like Pants' ``python_sources``) so that a change to one helper module affects
exactly the code that imports it. Provides ``python:<module>``; requires every module it imports.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field as Setting

from graphbuild import Digest, Field, RuleContext, RuleSettings, Target, TargetType
from graphbuild.buildfiles import Declaration
from graphbuild.ownership import Proposal
from graphbuild.values import FrozenDict
from rules.digests.python import PYTHON, import_requirements, module_name

__all__ = ["PythonSettings", "rule", "source_roots", "python_provides"]


class PythonSettings(RuleSettings):
    """``[rules.python]``; the airflow and spark rules read it too (their imports resolve through it)."""

    source_roots: tuple[str, ...] = Setting(
        default=("",),
        description='Import roots, relative to the workspace root ("" is the root): a file\'s module is its path '
        "below the first root holding it, and an import resolves to the target providing that module.",
    )


def source_roots(ctx: RuleContext) -> tuple[str, ...]:
    """The import roots from ``[rules.python] source_roots`` (default: the workspace root)."""
    return tuple(ctx.settings.rule_settings("python").get("source_roots", ("",)))


def python_provides(paths: Iterable[str], roots: tuple[str, ...]) -> set[str]:
    return {f"python:{m}" for p in paths if (m := module_name(p, roots))}


class PythonRule:
    name = "python"
    version = "1"
    settings_model, settings_read = PythonSettings, ()
    tailors_last = True  # any package is a python_library only if no other rule's tailor claims it (a Spark job)
    target_types = (
        TargetType(
            "python_library",
            fields=(Field("sources", tuple, ("*.py",), "Globs of the library's files, relative to the BUILD file."),),
            help="Shared Python code; one python_library target per file.",
        ),
    )

    def expand(self, declaration: Declaration, values: FrozenDict, ctx: RuleContext) -> Iterable[Target]:
        roots = source_roots(ctx)
        for path in ctx.glob(declaration, "sources", values):
            if not path.endswith(".py"):
                continue
            stem = path[len(declaration.package) :].lstrip("/")[:-3].replace("/", ".")
            stem = stem.removesuffix(".__init__")
            facts = ctx.snapshot.facts(path, PYTHON)
            yield ctx.target(
                declaration,
                values,
                rule=self.name,
                kind="python_library",
                name=stem,
                sources=(path,),
                provides=python_provides((path,), roots),
                requires=import_requirements(path, facts, roots),
            )

    def digest(self, target: Target, ctx: RuleContext) -> Digest:
        (path,) = target.sources
        return Digest.of({"code": ctx.snapshot.facts(path, PYTHON)["digest"]})

    def tailor(self, paths: tuple[str, ...], ctx: RuleContext) -> Iterable[Proposal]:
        """Python packages (folders with ``__init__.py``) under a source root become a python_library."""
        roots = source_roots(ctx)
        folders: dict[str, list[str]] = {}
        for path in paths:
            if path.endswith(".py") and module_name(path, roots) is not None:
                folders.setdefault(path.rpartition("/")[0], []).append(path)
        for folder, files in sorted(folders.items()):
            if f"{folder}/__init__.py" in files:
                yield Proposal(folder, 'python_library(sources=["*.py"])', tuple(files))


rule = PythonRule()
