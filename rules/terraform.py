"""``terraform_module``: a folder of Terraform (a module, or an environment's root stack).

HCL is digested by parsed structure, block by block ("Terraform block changed:
resource.aws_s3_bucket.lake (tags)"); formatting and comments do not count. A ``module`` block with a
local ``source`` is an edge to that module's folder, and ``${path.module}/...`` file references are
edges to whichever target owns the file (a Glue schema reading a Kafka topic's ``schema.avsc``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator
from typing import Any

from graphbuild import Digest, Field, Origin, Requirement, RuleContext, Target, TargetType
from graphbuild.buildfiles import Declaration
from graphbuild.graph import FILE_SYMBOL
from graphbuild.ownership import Proposal
from graphbuild.values import FrozenDict
from rules.digests.structured import HCL, JSON

__all__ = ["rule"]

_MODULE_FILE = re.compile(r"\$\{path\.module\}/([^\"${}*]+)")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class TerraformRule:
    name = "terraform"
    version = "1"
    target_types = (
        TargetType(
            "terraform_module",
            fields=(Field("sources", tuple, ("*",), "Globs of the module's files (default: its folder, not sub-folders)."),),
            help="A Terraform module or root stack.",
        ),
    )

    def expand(self, declaration: Declaration, values: FrozenDict, ctx: RuleContext) -> Iterable[Target]:
        package = declaration.package
        sources = ctx.glob(declaration, "sources", values)
        requires: list[Requirement] = []
        for path in sources:
            if not path.endswith(".tf"):
                continue
            for key, body in ctx.snapshot.facts(path, HCL)["blocks"].items():
                source = body.get("source") if key.startswith("module.") and isinstance(body, dict) else None
                if isinstance(source, str) and source.startswith(("./", "../")):
                    folder = posixpath.normpath(posixpath.join(package, source))
                    requires.append(Requirement(f"terraform:dir:{folder}", Origin(path, None, f"{key} source = {source!r}")))
                for text in _strings(body):
                    for match in _MODULE_FILE.finditer(text):
                        file = posixpath.normpath(posixpath.join(package, match[1]))
                        requires.append(Requirement(FILE_SYMBOL + file, Origin(path, None, f"{key} reads {match[1]}")))
        yield ctx.target(
            declaration,
            values,
            rule=self.name,
            kind="terraform_module",
            sources=sources,
            provides={f"terraform:dir:{package}"},
            requires=requires,
        )

    def digest(self, target: Target, ctx: RuleContext) -> Digest:
        blocks: dict[str, Any] = {}
        files: dict[str, Any] = {}
        for path in target.sources:
            rel = path.rpartition("/")[2]
            if path.endswith(".tf"):
                facts = ctx.snapshot.facts(path, HCL)
                if facts["error"] is not None:
                    files[rel] = ctx.snapshot.blob_id(path)
                blocks.update(facts["blocks"])
            elif path.endswith(".json"):
                files[rel] = ctx.snapshot.facts(path, JSON)["value"]
            elif path.endswith(".hcl"):
                files[rel] = ctx.snapshot.facts(path, HCL)["blocks"]
            else:
                files[rel] = ctx.snapshot.blob_id(path)
        return Digest.of({"Terraform block": blocks, "file": files})

    def tailor(self, paths: tuple[str, ...], ctx: RuleContext) -> Iterable[Proposal]:
        folders: dict[str, list[str]] = {}
        for path in paths:
            if path.endswith(".tf"):
                folders.setdefault(path.rpartition("/")[0], [])
        for path in paths:
            folder = path.rpartition("/")[0]
            if folder in folders:
                folders[folder].append(path)
        for folder, files in sorted(folders.items()):
            yield Proposal(folder, "terraform_module()", tuple(files))


rule = TerraformRule()
