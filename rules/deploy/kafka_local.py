"""``kafka_topic`` on the local backend: a file-backed schema registry that enforces the topic's compatibility mode.

``register`` (phase SCHEMAS, forward-only: a registered version stays registered after a rollback, as in
any schema registry) writes under ``<backend_dir>/registry/<subject>/``, the subject being
``<topic>-value`` (the topic-name strategy)::

    registry/payments.transactions.v1-value/versions/1.avsc ... 4.avsc   the registered schemas, as written
    registry/payments.transactions.v1-value/config.json                   compatibility, partitions, retention

A schema identical to a registered version (canonical form: ``rules.digests.avro.canonical_type``, which
keeps defaults, aliases, order and logical types and drops docs) is a no-op, as re-registering is in a
registry. Otherwise ``rules.checks.avro_compat.check_mode`` checks it against the latest version (every
version for ``*_TRANSITIVE``) under the mode of ``topic.toml``, and an incompatible schema fails the step
with every reason. A subject without ``config.json`` has never been set up: its first registration
imports the topic's registered history (``versions/<n>.avsc``) in order first, so the registry mirrors
production; ``config.json`` is written last, so a crash mid-import resumes the import. Every read and
check comes first; the registry writes alone run fenced (``DeployContext.fenced``), after them.

The step's notes say in which order producers and consumers must roll out under the mode, naming the
consumers in the workspace (the Spark jobs that read the topic). ``retire`` soft-deletes the subject
(``"deleted": true``); its versions stay, as a registry keeps them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graphbuild.errors import DeployError, RuleError
from graphbuild.plan.definition import DeployContext, DeployPlanContext, Phase, Reversibility, Step, StepSpec
from graphbuild.values import canonical_json, freeze, thaw
from rules.deploy.local import other_backend, write_if_changed, write_json

__all__ = ["canonical_schema", "load_schema", "register", "register_step", "require_compatible", "rollout_note", "topic_request"]

HANDLER = "rules.deploy.kafka_local:register"
MONITOR = "rules.deploy.kafka_health"  # its drift checks (graphbuild.plan.monitor)
_DEFAULT_COMPATIBILITY = "BACKWARD"


def register_step(target: Any, ctx: DeployPlanContext) -> StepSpec:
    """The ``register`` step of one ``kafka_topic``: its schema, its registered history and its settings."""
    remote = other_backend(ctx, "kafka", {"glue": "rules.deploy.kafka_glue:register_step"})
    if remote is not None:
        return remote(target, ctx)
    request, note = topic_request(target, ctx)
    files = tuple(sorted({request["schema"], *request["versions"]}))
    return StepSpec.of("register", Phase.SCHEMAS, HANDLER, request, files=files, reversibility=Reversibility.FORWARD_ONLY,
                       estimate_s=1.0, notes=(note,))


def topic_request(target: Any, ctx: DeployPlanContext) -> tuple[dict[str, Any], str]:
    """What registering one ``kafka_topic`` needs (its subject, schema, history and mode) and its rollout note."""
    from rules.checks.avro_compat import MODES

    topic = str(target.attributes.get("topic", target.label.name))
    folder = f"{target.label.package}/{target.label.name}"
    config = f"{folder}/topic.toml"
    settings = dict(thaw(ctx.head.states[target.label].digest.private).get("topic setting") or {})
    if "invalid" in settings:
        raise RuleError(f"{config} is not valid TOML", file=config, fix="fix the file: `graphbuild test` names the line")
    default = thaw(ctx.head.globals).get("rule settings", {}).get("kafka", {}).get("default_compatibility", _DEFAULT_COMPATIBILITY)
    mode = str(settings.get("compatibility", default)).upper()
    if mode not in MODES:
        raise RuleError(f"compatibility {settings.get('compatibility')!r} is not one of {', '.join(MODES)}", file=config,
                        fix="set compatibility in topic.toml to a schema registry mode")
    numbered = sorted(
        (int(stem), path)
        for path in target.sources
        if path.startswith(f"{folder}/versions/") and (stem := path.rpartition("/")[2].removesuffix(".avsc")).isdigit()
        and path.endswith(".avsc")
    )
    schema = f"{folder}/schema.avsc"
    if schema not in target.sources:  # a BUILD `schema=` other than the default
        top = [p for p in target.sources if p.endswith(".avsc") and "/" not in p.removeprefix(folder + "/")]
        schema = top[0] if len(top) == 1 else schema
    request = {
        "topic": topic,
        "subject": f"{topic}-value",
        "schema": schema,
        "versions": [path for _, path in numbered],
        "compatibility": mode,
        "settings": settings,
    }
    return request, rollout_note(topic, mode, *_clients(ctx.head.graph, target.label, topic))


def rollout_note(topic: str, mode: str, consumers: list[str], producers: list[str]) -> str:
    """The order producers and consumers must upgrade in under ``mode``.

    >>> rollout_note("t", "FULL", ["//spark/jobs/a:a"], [])
    't: FULL: producers and consumers may upgrade in any order (consumers: //spark/jobs/a:a)'
    """
    readers = ", ".join(consumers) or "none in this workspace"
    writers = ", ".join(producers) or "outside this workspace"
    mode = mode.upper()
    if mode.startswith("BACKWARD"):
        order = f"upgrade consumers first ({readers}), then producers ({writers})"
    elif mode.startswith("FORWARD"):
        order = f"upgrade producers first ({writers}), then consumers ({readers})"
    elif mode.startswith("FULL"):
        return f"{topic}: {mode}: producers and consumers may upgrade in any order (consumers: {readers})"
    else:
        order = f"no compatibility is checked: coordinate producers ({writers}) and consumers ({readers}) in one change window"
    return f"{topic}: {mode}: {order}"


def _clients(graph: Any, label: Any, topic: str) -> tuple[list[str], list[str]]:
    """The Spark jobs reading the topic (its dependents) and any target declaring that it writes it."""
    symbol = f"topic:{topic}"
    consumers = sorted(str(dep) for dep in graph.rdeps[label]
                       if graph.targets[dep].kind == "spark_job" and symbol in graph.targets[dep].attributes.get("reads", ()))
    producers = sorted(str(other) for other, target in graph.targets.items() if symbol in target.attributes.get("writes", ()))
    return consumers, producers


# --------------------------------------------------------------------------------------------------
# The handler


def register(step: Step, ctx: DeployContext) -> str:
    """Register the topic's schema under its compatibility mode (importing the history into a new subject)."""
    subject = step.request["subject"]
    folder = ctx.backend_dir / "registry" / subject
    config_path = folder / "config.json"
    config = _read_json(config_path)
    if step.operation == "retire":
        if config is None or config.get("deleted"):
            return f"{subject}: already deleted"
        with ctx.fenced(step):  # a registry write
            write_json(config_path, {**config, "deleted": True})
        return f"{subject}: soft-deleted (its {len(_registered(folder))} versions stay registered)"
    # every read and check comes first: the one fenced block below only writes
    history = _history(step, ctx, folder) if config is None else []
    registered = _registered(folder, history)
    schema_path = step.request["schema"]
    new = load_schema(ctx.read_blob(step.files[schema_path]), schema_path)
    same = next((n for n, schema in registered if canonical_schema(schema) == canonical_schema(new)), None)
    mode = step.request["compatibility"]
    if same is None:
        require_compatible(subject, mode, new, registered, schema_path)
        same = (registered[-1][0] if registered else 0) + 1
        writes = [*history, (folder / "versions" / f"{same}.avsc", ctx.read_blob(step.files[schema_path]))]
        outcome = f"registered version {same}"
    else:
        writes = history
        outcome = f"schema already registered as version {same}"
    settings = thaw(step.request["settings"])
    with ctx.fenced(step):  # the registry writes: refused if another deploy took the lease over
        for path, data in writes:
            write_if_changed(path, data)
        write_json(config_path, {
            "subject": subject,
            "topic": step.request["topic"],
            "compatibility": mode,
            "partitions": settings.get("partitions"),
            "retention_ms": settings.get("retention_ms"),
            "settings": settings,
            "deleted": False,
        })  # fmt: skip
    imported = f" after importing {len(history)} historical versions" if history else ""
    return f"{subject}: {outcome}{imported} ({mode})"


def _history(step: Step, ctx: DeployContext, folder: Path) -> list[tuple[Path, bytes]]:
    """The topic's recorded versions 1..n the registry still lacks, as (file, schema) to write; a version
    already there must be the same schema."""
    missing = []
    for number, path in enumerate(step.request["versions"], start=1):
        data = ctx.read_blob(step.files[path])
        target = folder / "versions" / f"{number}.avsc"
        if target.is_file():
            if canonical_schema(load_schema(target.read_bytes(), str(target))) != canonical_schema(load_schema(data, path)):
                raise DeployError(f"{step.request['subject']}: registered version {number} is not {path}",
                                  file=str(target), fix="the registry diverged from the topic's history: reconcile them by hand")
            continue
        load_schema(data, path)
        missing.append((target, data))
    return missing


def _registered(folder: Path, pending: Sequence[tuple[Path, bytes]] = ()) -> list[tuple[int, Any]]:
    """The registered versions by number, counting ``pending`` (versions about to be written) as registered."""
    versions = folder / "versions"
    found = {int(p.stem): (p.read_bytes(), str(p)) for p in versions.glob("*.avsc") if p.stem.isdigit()} if versions.is_dir() else {}
    found.update((int(p.stem), (data, str(p))) for p, data in pending)
    return [(n, load_schema(data, where)) for n, (data, where) in sorted(found.items())]


def require_compatible(subject: str, mode: str, new: Any, registered: list[tuple[int, Any]], schema_path: str) -> None:
    """Refuse ``new`` unless ``mode`` allows it after the ``registered`` versions (number, schema), every reason named."""
    from rules.checks.avro_compat import SchemaError, check_mode

    try:
        problems = check_mode(mode, new, [(f"{subject} version {n}", s) for n, s in registered], new_label=schema_path)
    except SchemaError as exc:
        raise DeployError(f"{subject}: invalid Avro schema at {exc}", file=schema_path, fix="fix the schema") from None
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DeployError(
            f"{subject}: the schema is not {mode}-compatible with the registered versions: "
            f"{problems[0].describe()}{more}",
            file=schema_path,
            fix="make the change compatible (a new field needs a default; a removed one needed one), "
            "or publish to a new topic version",
        )


def load_schema(data: bytes, where: str) -> Any:
    """An Avro schema file's JSON (a ``DeployError`` naming ``where`` if it is not JSON)."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise DeployError(f"not a JSON Avro schema: {exc}", file=where, fix="fix the schema file") from None


def canonical_schema(schema: Any) -> str:
    """The schema's identity in a registry: canonical form with defaults, aliases, order and logical types."""
    from rules.digests.avro import canonical_type

    return canonical_json(freeze({"schema": canonical_type(schema)}))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise DeployError(f"unreadable registry file: {exc}", file=str(path), fix="restore it, or delete the subject and deploy again") from None
