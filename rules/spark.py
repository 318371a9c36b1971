"""``spark_job``: a package under ``spark/jobs/<name>/`` that owns every file in its folder.

Its BUILD target declares what it reads and writes (``topic:<name>``, ``table:<schema.table>``):
reads become requirements, writes are provided, so a dbt source on a table the job writes and a
DAG running the job (``spark:job:<name>``) both depend on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphbuild import Digest, Field, Origin, Requirement, RuleContext, Target, TargetType
from graphbuild.buildfiles import Declaration
from graphbuild.errors import BuildFileError
from graphbuild.values import FrozenDict
from rules.digests.python import PYTHON, import_requirements
from rules.digests.structured import JSON, TOML, YAML
from rules.python import python_provides, source_roots

__all__ = ["rule"]

_MODES = ("batch", "streaming")
_PREFIXES = ("topic:", "table:")
_STRUCTURED = {"json": JSON, "yaml": YAML, "yml": YAML, "toml": TOML}


class SparkRule:
    name = "spark"
    version = "1"
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
        sources = ctx.glob(declaration, "sources", values)
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
            code[path.removeprefix(prefix)] = value
        return Digest.of({"file": code})


rule = SparkRule()
