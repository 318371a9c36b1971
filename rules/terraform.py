"""``terraform_module``: a folder of Terraform (a module, or an environment's root stack).

HCL is digested by parsed structure, block by block ("Terraform block changed:
resource.aws_s3_bucket.lake (tags)"); formatting and comments do not count. A ``module`` block with a
local ``source`` is an edge to that module's folder, and ``${path.module}/...`` file references are
edges to whichever target owns the file (a Glue schema reading a Kafka topic's ``schema.avsc``).

Each target has three actions, handled in ``rules.checks.terraform`` (pool ``terraform``):
``fmt`` (``terraform fmt -check -diff``, batched), ``validate`` (``terraform validate`` only when the
providers are already on disk, never downloading them; otherwise skipped with the reason) and
``static`` (policy on the parsed HCL, batched). Settings of ``[rules.terraform]``: ``required_tags``
(default Project, Environment, Owner, DataClassification), ``untaggable_types`` (added to the
built-in list), ``sse_algorithms`` (default aws:kms, aws:kms:dsse, AES256) and ``plugin_dirs``
(workspace-relative or absolute provider mirror folders for ``validate``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pydantic import Field as Setting

from graphbuild import Digest, Field, Origin, Requirement, RuleContext, RuleSettings, Target, TargetType
from graphbuild.buildfiles import Declaration
from graphbuild.graph import FILE_SYMBOL
from graphbuild.ownership import Proposal
from graphbuild.rule import CHECKS_ONLY
from graphbuild.run.action import Action
from graphbuild.values import FrozenDict
from rules.digests.structured import HCL, JSON, walk

__all__ = ["rule"]

_CLI = ("cmd:terraform version",)
_FMT_SUFFIXES = (".tf", ".tfvars", ".tftest.hcl")
_DEFAULT_REQUIRED_TAGS = ("Project", "Environment", "Owner", "DataClassification")
_DEFAULT_SSE_ALGORITHMS = ("aws:kms", "aws:kms:dsse", "AES256")


class TerraformSettings(RuleSettings):
    """``[rules.terraform]``."""

    required_tags: tuple[str, ...] = Setting(
        default=_DEFAULT_REQUIRED_TAGS,
        description="Tags every taggable resource must have (the static check).",
        json_schema_extra=CHECKS_ONLY,
    )
    untaggable_types: tuple[str, ...] = Setting(
        default=(),
        description="Resource types exempt from required_tags, added to the built-in list.",
        json_schema_extra=CHECKS_ONLY,
    )
    sse_algorithms: tuple[str, ...] = Setting(
        default=_DEFAULT_SSE_ALGORITHMS,
        description="Server-side encryption algorithms the static check accepts.",
        json_schema_extra=CHECKS_ONLY,
    )
    plugin_dirs: tuple[str, ...] = Setting(
        default=(),
        json_schema_extra=CHECKS_ONLY,
        description="Provider mirror folders (workspace-relative or absolute) for validate; without providers, "
        "validate is skipped with its reason.",
    )
_MODULE_FILE = re.compile(r"\$\{path\.module\}/([^\"${}*]+)")


def _strings(value: Any) -> Iterator[str]:
    return (item for item in walk(value) if isinstance(item, str))


class TerraformRule:
    name = "terraform"
    version = "1"
    settings_model, settings_read = TerraformSettings, ()
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
        data, tag_values = _split_tag_values(blocks)
        return Digest.of({"Terraform block": data, "file": files}, {"Terraform tag value": tag_values})

    def actions(self, target: Target, ctx: RuleContext) -> Iterable[Action]:
        """``fmt``, ``validate`` and ``static`` for a folder with ``.tf`` files (none otherwise)."""
        if target.kind != "terraform_module":
            return ()
        package = target.label.package
        tf = [p for p in target.sources if p.endswith(".tf")]
        if not tf:
            return ()
        settings = ctx.rule_settings
        static = {
            "package": package,
            "files": [p for p in target.sources if p.endswith((".tf", ".tfvars"))],
            "required_tags": list(settings.get("required_tags", _DEFAULT_REQUIRED_TAGS)),
            "untaggable_types": list(settings.get("untaggable_types", ())),
            "sse_algorithms": list(settings.get("sse_algorithms", _DEFAULT_SSE_ALGORITHMS)),
        }
        validate = {"package": package, "sources": list(target.sources), "plugin_dirs": list(settings.get("plugin_dirs", ()))}
        fmt = {"package": package, "files": [p for p in target.sources if p.endswith(_FMT_SUFFIXES)]}
        handler = "rules.checks.terraform:"
        return (
            Action.of(target.label, "fmt", handler + "check_fmt", fmt, pool="terraform", timeout_s=120.0,
                      toolchain=_CLI, batch="terraform-fmt"),
            Action.of(target.label, "validate", handler + "check_validate", validate, pool="terraform", timeout_s=600.0,
                      toolchain=_CLI, env=("TF_PLUGIN_CACHE_DIR",)),
            Action.of(target.label, "static", handler + "check_static", static, pool="terraform", timeout_s=120.0,
                      toolchain=("python", "dist:python-hcl2"), batch="terraform-static"),
        )

    def deploy_steps(self, target: Target, ctx: Any) -> Iterable[Any]:
        """``apply`` for the root stack of the environment being deployed (``terraform/envs/<env>``); none otherwise.

        Handled in ``rules.deploy.<backend>``; ``ctx`` is a ``graphbuild.plan.definition.DeployPlanContext``.
        """
        if target.kind != "terraform_module":
            return ()
        from rules.deploy.terraform_local import apply_step  # the deploy side is imported only when planning

        step = apply_step(target, ctx)
        return () if step is None else (step,)

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


_TAG_KEYS = frozenset({"tags", "default_tags", "tags_all"})


def _split_tag_values(value: Any, path: str = "") -> tuple[Any, dict[str, Any]]:
    """Literal tag maps keep their keys in the data (the tag policy checks them); their values are metadata.

    >>> _split_tag_values({"locals": {"tags": {"Owner": "payments"}, "name": "lake"}})
    ({'locals': {'tags': {'Owner': '<tag value>'}, 'name': 'lake'}}, {'locals.tags.Owner': 'payments'})
    """
    if not isinstance(value, Mapping):
        return value, {}
    data: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for key, item in value.items():
        where = f"{path}.{key}" if path else str(key)
        if key in _TAG_KEYS and isinstance(item, Mapping) and all(not isinstance(v, Mapping | list) for v in item.values()):
            data[key] = {k: "<tag value>" for k in item}
            values.update({f"{where}.{k}": v for k, v in item.items()})
        else:
            data[key], found = _split_tag_values(item, where)
            values.update(found)
    return data, values
