"""``kafka_topic``: one target per ``<topic>/`` folder holding ``schema.avsc`` and ``topic.toml``.

The digest keeps what readers and the cluster see: the Avro fields by name (type, default,
aliases, order, logical types), the schema's name and namespace, the topic settings and the
registered versions (the compatibility baseline). Docs and descriptions are metadata.

Its check, ``avro-compat`` (handler ``rules.checks.kafka:check_topics``), proves the schema and the
registered versions compatible under the topic's mode. Settings, ``[rules.kafka]``:
``default_compatibility`` (``"BACKWARD"``, for a topic.toml without ``compatibility``),
``max_records`` (``256`` round-trip records at most per writer schema) and ``timeout_s`` (``120``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import Field as Setting

from graphbuild import Digest, Field, RuleContext, RuleSettings, Target, TargetType
from graphbuild.buildfiles import Declaration
from graphbuild.ownership import Proposal
from graphbuild.rule import CHECKS_ONLY, Command
from graphbuild.run.action import Action
from graphbuild.values import FrozenDict
from rules.digests.avro import AVRO
from rules.digests.structured import TOML

__all__ = ["rule"]

_METADATA_KEYS = ("description", "owner", "owners", "doc")
# [rules.kafka] settings read by the compatibility check, with their defaults
_DEFAULT_COMPATIBILITY = "BACKWARD"  # a topic.toml without `compatibility` (a schema registry's default)
_MAX_RECORDS = 256  # round-trip records per writer schema, enough to visit every union branch and enum symbol
_TIMEOUT_S = 120.0


class KafkaSettings(RuleSettings):
    """``[rules.kafka]``."""

    default_compatibility: str = Setting(
        default=_DEFAULT_COMPATIBILITY,
        description="The compatibility mode of a topic whose topic.toml sets no `compatibility`.",
    )
    max_records: int = Setting(
        default=_MAX_RECORDS,
        ge=1,
        description="Round-trip records at most per writer schema in the avro-compat check.",
        json_schema_extra=CHECKS_ONLY,
    )
    timeout_s: float = Setting(
        default=_TIMEOUT_S, gt=0, description="Timeout of one avro-compat action, in seconds.", json_schema_extra=CHECKS_ONLY
    )


class KafkaRule:
    name = "kafka"
    version = "1"
    settings_model, settings_read = KafkaSettings, ()
    target_types = (
        TargetType(
            "kafka_topics",
            fields=(Field("schema", str, "schema.avsc", "The schema file's name inside each topic folder."),),
            help="Kafka topics: one kafka_topic per sub-folder holding a schema, named after the folder (the topic).",
        ),
    )

    def expand(self, declaration: Declaration, values: FrozenDict, ctx: RuleContext) -> Iterable[Target]:
        schema_name = values["schema"]
        for schema in ctx.snapshot.glob([f"*/{schema_name}"], under=declaration.package):
            folder = schema.rpartition("/")[0]
            topic = folder.rpartition("/")[2]
            yield ctx.target(
                declaration,
                values,
                rule=self.name,
                kind="kafka_topic",
                name=topic,
                sources=ctx.snapshot.glob(["**"], under=folder),
                attributes={"topic": topic},
                provides={f"topic:{topic}"},
            )

    def digest(self, target: Target, ctx: RuleContext) -> Digest:
        folder = f"{target.label.package}/{target.label.name}"
        data: dict[str, Any] = {}
        metadata: dict[str, Any] = {}
        private: dict[str, Any] = {}  # the topic's own settings and history: its checks and deploy, not its readers
        versions: dict[str, Any] = {}
        other: dict[str, Any] = {}
        for path in target.sources:
            rel = path.removeprefix(folder + "/")
            if rel == "schema.avsc":
                facts = ctx.snapshot.facts(path, AVRO)
                data["Avro schema"] = facts["schema"] if facts["error"] is None else {"invalid": ctx.snapshot.blob_id(path)}
                data["Avro field"] = facts["fields"]
                data["Avro field order"] = facts["order"]
                metadata["Avro doc"] = facts["docs"]
            elif rel == "topic.toml":
                config = dict(ctx.snapshot.facts(path, TOML)["value"] or {"invalid": ctx.snapshot.blob_id(path)})
                metadata["topic description"] = {k: config.pop(k) for k in _METADATA_KEYS if k in config}
                private["topic setting"] = config
            elif rel.endswith(".avsc"):
                facts = ctx.snapshot.facts(path, AVRO)
                versions[rel] = [facts["schema"], facts["fields"], facts["order"]]
            else:
                other[rel] = ctx.snapshot.blob_id(path)
        private["registered version"] = versions
        if other:
            data["file"] = other
        return Digest.of(data, metadata, private)

    def actions(self, target: Target, ctx: RuleContext) -> Iterable[Action]:
        """``avro-compat``: the topic's schema against its registered versions, under its compatibility mode.

        The handler reads the mode from ``topic.toml`` (falling back to ``default_compatibility``) so that
        an invalid setting fails with its file and line.
        """
        if target.kind != "kafka_topic":
            return ()
        folder = f"{target.label.package}/{target.label.name}"
        settings = ctx.rule_settings
        schema = f"{folder}/schema.avsc"
        if schema not in target.sources:  # a BUILD `schema=` other than the default
            top = [p for p in target.sources if p.endswith(".avsc") and "/" not in p.removeprefix(folder + "/")]
            schema = top[0] if len(top) == 1 else schema
        numbered: list[tuple[int, str]] = []
        unexpected: list[str] = []
        for path in target.sources:
            rel = path.removeprefix(folder + "/")
            if rel.startswith("versions/") and rel.endswith(".avsc"):
                stem = rel.removeprefix("versions/").removesuffix(".avsc")
                if stem.isdigit():
                    numbered.append((int(stem), path))
                else:
                    unexpected.append(path)
        config = f"{folder}/topic.toml"
        request = {
            "topic": target.attributes.get("topic", target.label.name),
            "schema": schema,
            "config": config if config in target.sources else None,
            "versions": [path for _, path in sorted(numbered)],
            "unexpected": sorted(unexpected),
            "default_compatibility": str(settings.get("default_compatibility", _DEFAULT_COMPATIBILITY)),
            "max_records": int(settings.get("max_records", _MAX_RECORDS)),
        }
        return (
            Action.of(
                target.label,
                "avro-compat",
                "rules.checks.kafka:check_topics",
                request,
                pool="default",
                timeout_s=float(settings.get("timeout_s", _TIMEOUT_S)),
                toolchain=("python", "dist:fastavro"),
                batch="kafka:avro-compat",
            ),
        )

    def deploy_steps(self, target: Target, ctx: Any) -> Iterable[Any]:
        """``register``: the schema in the environment's registry, under the topic's compatibility mode.

        Handled in ``rules.deploy.<backend>``; ``ctx`` is a ``graphbuild.plan.definition.DeployPlanContext``.
        """
        if target.kind != "kafka_topic":
            return ()
        from rules.deploy.kafka_local import register_step  # the deploy side is imported only when planning

        return (register_step(target, ctx),)

    def commands(self) -> tuple[Command, ...]:
        """``graphbuild schema compat OLD.avsc [OLD.avsc ...] NEW.avsc [--mode MODE] [--format text|json]``."""
        return (
            Command(
                "schema compat",
                "Check that a new Avro schema may follow the registered versions under a compatibility mode "
                "(exit 0 compatible, 1 not, 2 unreadable schema, 3 checker failure).",
                _schema_compat,
            ),
        )

    def tailor(self, paths: tuple[str, ...], ctx: RuleContext) -> Iterable[Proposal]:
        """A folder whose sub-folders hold ``schema.avsc`` files gets ``kafka_topics()``."""
        parents: dict[str, list[str]] = {}
        for path in paths:
            if path.endswith("/schema.avsc") and path.count("/") >= 2:
                topic_folder = path.rpartition("/")[0]
                parent = topic_folder.rpartition("/")[0]
                parents.setdefault(parent, []).extend(p for p in paths if p.startswith(topic_folder + "/"))
        for parent, files in sorted(parents.items()):
            yield Proposal(parent, "kafka_topics()", tuple(sorted(set(files))))


def _schema_compat(argv: list[str]) -> int:
    from rules.checks.kafka import schema_compat_main  # fastavro is imported only when the command runs

    return schema_compat_main(argv)


rule = KafkaRule()
