"""The Rule protocol, the values rules produce, and the registry (the ``graphbuild.rules`` entry points).

The engine knows no asset kind. A rule module declares BUILD target types, expands each BUILD
declaration into targets (owning sources, providing and requiring *symbols* such as
``topic:payments.transactions.v1``), and computes each target's semantic digest. The engine links
requirements to providers, fingerprints and compares; it never names a kind.

A minimal rule::

    class TextRule:
        name, version = "text", "1"
        target_types = (TargetType("text_files", fields=(Field("sources", tuple, ("*.txt",)),)),)

        def expand(self, declaration, ctx):
            yield ctx.target(declaration, kind="text_file", sources=ctx.glob(declaration, "sources"))

        def digest(self, target, ctx):
            return Digest.of(data={"text": {p: ctx.snapshot.blob_id(p) for p in target.sources}})
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from graphbuild.buildfiles import Declaration
from graphbuild.errors import BuildFileError, RuleError
from graphbuild.labels import Label, did_you_mean
from graphbuild.paths import unsafe_glob_reason
from graphbuild.run.action import ActionProvider
from graphbuild.sources import Snapshot
from graphbuild.values import Compact, FrozenDict, freeze
from graphbuild.workspace import Settings

__all__ = [
    "COMMON_FIELDS",
    "Command",
    "Configurable",
    "Digest",
    "Field",
    "Origin",
    "Registry",
    "Requirement",
    "Rule",
    "RuleContext",
    "RuleSettings",
    "Target",
    "TargetType",
    "CHECKS_ENTRY_POINT_GROUP",
    "CHECKS_ONLY",
    "ENTRY_POINT_GROUP",
]

ENTRY_POINT_GROUP = "graphbuild.rules"
CHECKS_ENTRY_POINT_GROUP = "graphbuild.checks"  # cross-cutting checks: actions for targets of every kind


@dataclass(frozen=True, slots=True)
class Origin(Compact):
    """Where an edge or a target came from: a file, a line, and how (``declared``, ``ref('x')``)."""

    file: str
    line: int | None = None
    how: str = "declared"

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where} ({self.how})"


@dataclass(frozen=True, slots=True)
class Requirement(Compact):
    """A symbol a target needs; an optional one may be provided by no target (a third-party import).

    A *check-only* requirement is read by the target's checks, not by its data (a test asserting that
    every chargeback references a payment): a change there re-runs the target's checks, but does not
    flow on to the target's dependents.
    """

    symbol: str
    origin: Origin
    is_optional: bool = False
    is_check_only: bool = False


@dataclass(frozen=True, slots=True)
class Field:
    """One keyword a BUILD target type accepts."""

    name: str
    type: type | tuple[type, ...]
    default: Any = None
    help: str = ""
    is_required: bool = False


COMMON_FIELDS = (
    Field("name", str, None, "The target's name; defaults to the folder's name."),
    Field("description", str, None, "What the target is for (metadata)."),
    Field("owners", tuple, (), "Teams or people who own it (metadata)."),
    Field("tags", tuple, (), "Free-form tags (metadata)."),
    Field("dependencies", tuple, (), "Labels of dependencies that cannot be inferred."),
    Field("overrides", Mapping, FrozenDict(), "Per generated target: {name: {description, owners, tags, dependencies}}."),
)
_OVERRIDABLE = frozenset({"description", "owners", "tags", "dependencies"})


@dataclass(frozen=True, slots=True)
class TargetType:
    """A callable of BUILD files, declared by a rule (one rule may declare several)."""

    name: str
    fields: tuple[Field, ...] = ()
    help: str = ""

    def validate(self, declaration: Declaration) -> FrozenDict:
        """Check the declaration's keywords and fill defaults; errors name the file and line."""
        known = {f.name: f for f in (*COMMON_FIELDS, *self.fields)}
        for key, value in declaration.kwargs.items():
            spec = known.get(key)
            if spec is None:
                raise BuildFileError(
                    f"{self.name}() has no argument {key!r}" + did_you_mean(key, known),
                    file=declaration.file,
                    line=declaration.line,
                    col=declaration.col,
                    fix="accepted: " + ", ".join(sorted(known)),
                )
            if value is not None and not _is_instance(value, spec.type):
                raise BuildFileError(
                    f"{self.name}({key}=...) must be {_type_name(spec.type)}, not {type(value).__name__}",
                    file=declaration.file,
                    line=declaration.line,
                    col=declaration.col,
                    fix=f"{key}: {spec.help}" if spec.help else None,
                )
        missing = [f.name for f in self.fields if f.is_required and declaration.kwargs.get(f.name) is None]
        if missing:
            raise BuildFileError(
                f"{self.name}() needs {', '.join(missing)}",
                file=declaration.file,
                line=declaration.line,
                col=declaration.col,
                fix="; ".join(f"{f.name}: {f.help}" for f in self.fields if f.name in missing),
            )
        for name, override in declaration.kwargs.get("overrides", FrozenDict()).items():
            bad = set(override) - _OVERRIDABLE if isinstance(override, Mapping) else {"<not a dict>"}
            if bad:
                raise BuildFileError(
                    f"overrides[{name!r}] sets {', '.join(sorted(bad))}",
                    file=declaration.file,
                    line=declaration.line,
                    fix="overrides may set only " + ", ".join(sorted(_OVERRIDABLE)),
                )
        values = {f.name: freeze(f.default) for f in (*COMMON_FIELDS, *self.fields)}
        values.update({k: v for k, v in declaration.kwargs.items() if v is not None})
        if values["name"] is None:
            values["name"] = declaration.package.rsplit("/", 1)[-1] or "root"
        return FrozenDict(values)


def _is_instance(value: Any, expected: type | tuple[type, ...]) -> bool:
    types = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def _type_name(expected: type | tuple[type, ...]) -> str:
    names = {str: "a string", tuple: "a list", int: "a number", float: "a number", bool: "a boolean", Mapping: "a dict"}
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(names.get(t, t.__name__) for t in types)


@dataclass(frozen=True, slots=True)
class Target(Compact):
    """One node of the graph: frozen, hashable, and what every later stage reads."""

    label: Label
    kind: str
    rule: str
    sources: tuple[str, ...]
    attributes: FrozenDict = field(default_factory=FrozenDict)
    metadata: FrozenDict = field(default_factory=FrozenDict)
    provides: frozenset[str] = frozenset()
    requires: tuple[Requirement, ...] = ()
    dependencies: tuple[tuple[Label, Origin], ...] = ()
    origin: Origin = Origin("")


@dataclass(frozen=True, slots=True)
class Digest(Compact):
    """A target's semantic digest by aspect: ``data`` aspects change behaviour, ``metadata`` ones don't.

    ``private`` aspects change the target's own behaviour (its checks re-run, it is deployed again) but
    not what its dependents see: a topic's retention, a model's tests. Aspect values are JSON-ready and
    compared structurally by ``why``: a dict aspect such as ``{"column": {"amount": {...}}}`` is
    reported as "column added: fee_amount".
    """

    data: FrozenDict
    metadata: FrozenDict = field(default_factory=FrozenDict)
    private: FrozenDict = field(default_factory=FrozenDict)

    @classmethod
    def of(
        cls, data: Mapping[str, Any], metadata: Mapping[str, Any] | None = None, private: Mapping[str, Any] | None = None
    ) -> Digest:
        return cls(freeze(dict(data)), freeze(dict(metadata or {})), freeze(dict(private or {})))


@dataclass(frozen=True)
class RuleContext:
    """What a rule may look at: the snapshot being read and the settings."""

    snapshot: Snapshot
    settings: Settings
    rule_settings: FrozenDict

    def glob(self, declaration: Declaration, key: str, values: FrozenDict) -> tuple[str, ...]:
        """The files a declaration's glob field selects in its package (BUILD files excluded)."""
        patterns = values[key]
        if isinstance(patterns, str):
            patterns = (patterns,)
        for pattern in patterns:
            reason = unsafe_glob_reason(pattern)
            if reason is not None:  # it would silently match nothing: say so
                raise BuildFileError(
                    f"{key} pattern {pattern!r} cannot match files of package //{declaration.package}: {reason}",
                    file=declaration.file,
                    line=declaration.line,
                    fix=f"write globs relative to the BUILD file's folder, e.g. {key}=['**/*.py']; "
                    "a file of another package belongs to a target there (depend on it)",
                )
        found = self.snapshot.glob(patterns, under=declaration.package)
        return tuple(p for p in found if p.rsplit("/", 1)[-1] not in ("BUILD", "BUILD.graphbuild"))

    def target(
        self,
        declaration: Declaration,
        values: FrozenDict,
        *,
        rule: str,
        kind: str,
        name: str | None = None,
        sources: Iterable[str] = (),
        attributes: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        provides: Iterable[str] = (),
        requires: Iterable[Requirement] = (),
        line: int | None = None,
    ) -> Target:
        """Build a target from a declaration, applying the common fields and per-name overrides."""
        name = name or values["name"]
        try:
            label = Label.parse(f"//{declaration.package}:{name}")
        except Exception as exc:
            raise RuleError(
                f"cannot name a target {name!r}: {exc}", file=declaration.file, line=declaration.line
            ) from None
        override = values["overrides"].get(name, FrozenDict())
        common = {k: override.get(k, values[k]) for k in ("description", "owners", "tags")}
        meta = {k: v for k, v in common.items() if v not in (None, ())}
        meta.update(metadata or {})
        deps = []
        for text in (*values["dependencies"], *override.get("dependencies", ())):
            try:
                deps.append((Label.parse(text, relative_to=declaration.package), Origin(declaration.file, declaration.line)))
            except Exception as exc:
                raise BuildFileError(str(exc), file=declaration.file, line=declaration.line) from None
        return Target(
            label=label,
            kind=kind,
            rule=rule,
            sources=tuple(sorted(set(sources))),
            attributes=freeze(dict(attributes or {})),
            metadata=freeze(meta),
            provides=frozenset(provides),
            requires=tuple(requires),
            dependencies=tuple(deps),
            origin=Origin(declaration.file, line or declaration.line),
        )


@dataclass(frozen=True, slots=True)
class Command:
    """A CLI command a rule contributes, e.g. ``graphbuild schema compat``; ``main`` gets the rest of argv.

    The global ``--format F`` and ``--debug``, given before the command, are passed on after the rest.
    """

    name: str  # one or two words: "schema compat"
    help: str
    main: Callable[[list[str]], int]


@runtime_checkable
class Rule(Protocol):
    """One asset kind's knowledge: target types, discovery, inferred edges and semantic digests."""

    name: str
    version: str
    target_types: tuple[TargetType, ...]

    def expand(self, declaration: Declaration, values: FrozenDict, ctx: RuleContext) -> Iterable[Target]:
        """Turn one validated BUILD declaration into targets (a generator returns many)."""
        ...

    def digest(self, target: Target, ctx: RuleContext) -> Digest:
        """The semantic digest of the target's own sources (not of its dependencies)."""
        ...


CHECKS_ONLY: dict[str, Any] = {"checks_only": True}  # a setting's json_schema_extra: only actions read it


class RuleSettings(BaseModel):
    """The base of a rule's settings model: frozen, and an unknown key is an error (``extra="forbid"``).

    A setting that only the rule's actions read (a timeout, a check's policy) is declared with
    ``json_schema_extra=CHECKS_ONLY``: it is in those actions' requests, hence their cache keys, and in
    no fingerprint, so changing it re-runs checks and deploys nothing.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


def _checks_only(model: type[BaseModel] | None) -> frozenset[str]:
    if model is None:
        return frozenset()
    return frozenset(
        name for name, field in model.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("checks_only")
    )


@runtime_checkable
class Configurable(Protocol):
    """A rule or check with settings: ``[rules.<name>]`` is validated against ``settings_model``.

    ``settings_model`` is a pydantic model, frozen with ``extra="forbid"``, so a typo is an error that
    names graphbuild.toml's line; its fields' descriptions are the documentation of the keys.
    ``settings_read`` names the other rules whose settings the rule reads as well: a change of those
    settings, or of its own, changes the fingerprints of the rule's targets and of no other::

        class TextSettings(RuleSettings):
            encoding: str = pydantic.Field(default="utf-8", description="How the text files are decoded.")

        class TextRule:
            name, version, settings_model, settings_read = "text", "1", TextSettings, ()
    """

    settings_model: type[BaseModel]
    settings_read: tuple[str, ...]


class Registry:
    """The rules in use, by name and by BUILD target type, and the cross-cutting checks."""

    def __init__(self, rules: Iterable[Rule], checks: Iterable[Any] = ()) -> None:
        self.checks: tuple[Any, ...] = tuple(checks)
        self.rules: dict[str, Rule] = {}
        self.types: dict[str, tuple[Rule, TargetType]] = {}
        for rule in rules:
            if rule.name in self.rules:
                raise RuleError(f"two rules are named {rule.name!r}", fix="uninstall one of the plugins")
            self.rules[rule.name] = rule
            for target_type in rule.target_types:
                if target_type.name in self.types:
                    other = self.types[target_type.name][0].name
                    raise RuleError(
                        f"rules {other!r} and {rule.name!r} both declare {target_type.name}()",
                        fix="rename one target type",
                    )
                self.types[target_type.name] = (rule, target_type)

    @classmethod
    def from_entry_points(cls) -> Registry:
        """Every rule registered in the ``graphbuild.rules`` entry-point group, built-in and third-party."""
        rules = []
        checks = [e.load() for e in sorted(entry_points(group=CHECKS_ENTRY_POINT_GROUP), key=lambda e: e.name)]
        for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            rule = entry_point.load()
            if not isinstance(rule, Rule):
                raise RuleError(
                    f"entry point {entry_point.name} = {entry_point.value} is not a Rule",
                    fix="point the entry point at an object with name, version, target_types, expand and digest",
                )
            rules.append(rule)
        if not rules:
            raise RuleError(
                f"no rules are installed in the {ENTRY_POINT_GROUP!r} entry-point group",
                fix="install graphbuild with `pip install -e .` so its built-in rules register",
            )
        return cls(rules, checks)

    def actions(self, target: Target, ctx: RuleContext) -> tuple[Any, ...]:
        """The target's actions: its own rule's, then every cross-cutting check's."""
        rule = self.rules[target.rule]
        found: list[Any] = list(rule.actions(target, ctx)) if isinstance(rule, ActionProvider) else []
        for check in self.checks:  # each check reads its own [rules.<name>] settings
            own = RuleContext(ctx.snapshot, ctx.settings, ctx.settings.rule_settings(check.name))
            found.extend(check.actions(target, own))
        return tuple(found)

    def commands(self) -> dict[str, Command]:
        """CLI commands contributed by rules (an optional ``commands()`` method), by name."""
        found: dict[str, Command] = {}
        for provider in (*self.rules.values(), *self.checks):
            for command in getattr(provider, "commands", lambda: ())():
                found[command.name] = command
        return found

    def lookup(self, declaration: Declaration) -> tuple[Rule, TargetType]:
        found = self.types.get(declaration.type_name)
        if found is None:
            raise BuildFileError(
                f"unknown target type {declaration.type_name}()" + did_you_mean(declaration.type_name, self.types),
                file=declaration.file,
                line=declaration.line,
                col=declaration.col,
                fix="known types: " + ", ".join(sorted(self.types)),
            )
        return found

    def version_of(self, name: str) -> str:
        return self.rules[name].version

    def settings_models(self) -> dict[str, type[BaseModel] | None]:
        """Every rule's and check's name -> its settings model (None: it declares none)."""
        providers = (*self.rules.values(), *self.checks)
        return {p.name: p.settings_model if isinstance(p, Configurable) else None for p in providers}

    def check_settings(self, settings: Settings) -> None:
        """Validate every ``[rules.<name>]`` of ``settings``; a ConfigError names graphbuild.toml's line."""
        settings.check_rules(self.settings_models())

    def settings_read_by(self, name: str) -> tuple[str, ...]:
        """The ``[rules.<name>]`` sections the data of rule ``name``'s targets depends on: its own and those it
        declares reading. A cross-cutting check's settings are not among them: they reach only its actions'
        requests, which are part of the actions' cache keys."""
        rule = self.rules[name]
        others = rule.settings_read if isinstance(rule, Configurable) else ()
        return tuple(sorted({name, *others}))

    def data_settings(self, settings: Settings, name: str) -> dict[str, FrozenDict]:
        """What of ``settings`` the data of rule ``name``'s targets reads: ``settings_read_by(name)``'s sections
        without their ``CHECKS_ONLY`` keys."""
        models = self.settings_models()
        found = {}
        for section in self.settings_read_by(name):
            skipped = _checks_only(models.get(section))
            values = settings.rule_settings(section)
            found[section] = FrozenDict({k: v for k, v in values.items() if k not in skipped}) if skipped else values
        return found

    def data_context(self, snapshot: Snapshot, settings: Settings, name: str) -> RuleContext:
        """The context rule ``name``'s ``expand`` and ``digest`` get: its settings are ``data_settings(settings,
        name)`` and nothing else, so what they read is exactly what its targets' fingerprints hash. A
        ``CHECKS_ONLY`` key, or a section not in ``settings_read``, is absent (``get`` gives its default)."""
        read = self.data_settings(settings, name)
        return RuleContext(snapshot, settings.narrowed(read), read[name])
