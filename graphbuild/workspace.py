"""The workspace: its root (the folder holding ``graphbuild.toml``) and its validated settings.

>>> settings = parse_settings("graphbuild.toml", '[workspace]\\nglobal_inputs = ["constraints.txt"]\\n')
>>> settings.workspace.global_inputs
('constraints.txt',)
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from graphbuild.errors import ConfigError, WorkspaceError
from graphbuild.labels import did_you_mean
from graphbuild.values import FrozenDict, freeze

__all__ = ["CacheSettings", "RemoteCacheSettings", "Settings", "Workspace", "WorkspaceSettings", "parse_settings", "SETTINGS_FILE"]

SETTINGS_FILE = "graphbuild.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkspaceSettings(_Strict):
    global_inputs: tuple[str, ...] = Field(
        default=(), description="Globs of files whose change affects every target (lock files, constraints)."
    )
    ignore: tuple[str, ...] = Field(
        default=(), description="Globs of tracked files that belong to no target and affect nothing."
    )


class RemoteCacheSettings(_Strict):
    url: str = Field(pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", description="s3://bucket/prefix of the shared cache.")
    region: str | None = Field(default=None, description="The bucket's AWS region (default: the AWS configuration's).")
    endpoint_url: str | None = Field(default=None, description="An S3-compatible endpoint instead of AWS (tests, MinIO).")
    salt: str = Field(default="", description="Mixed into every key: changing it disowns every older entry at once.")
    hmac_key: str = Field(
        default="env:GRAPHBUILD_CACHE_HMAC_KEY",
        description="Secret reference of the key that signs results (env:NAME or secret:aws-sm:PATH).",
    )
    upload: Literal["auto", "always", "never"] = Field(
        default="auto", description="auto: only CI on a writer branch uploads; laptops and pull requests read only."
    )
    writer_branches: tuple[str, ...] = Field(default=("main",), description="Branches whose CI runs upload (upload=auto).")
    connect_timeout_s: float = Field(default=1.0, gt=0, description="Timeout to connect to the endpoint.")
    read_timeout_s: float = Field(default=3.0, gt=0, description="Timeout of every read and write call.")
    failure_threshold: int = Field(default=3, ge=1, description="Consecutive failed calls that open the circuit breaker.")
    cooldown_s: float = Field(default=60.0, ge=0, description="How long an open breaker stops asking the remote.")


class CacheSettings(_Strict):
    dir: str = Field(default="cache", description="The local cache folder, relative to the workspace root.")
    max_size_mb: int = Field(default=2048, gt=0, description="Size limit of the local cache; oldest entries go first.")
    remote: RemoteCacheSettings | None = Field(default=None, description="The shared remote cache behind the local one.")


class Settings(_Strict):
    workspace: WorkspaceSettings = WorkspaceSettings()
    cache: CacheSettings = CacheSettings()
    rules: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Settings per rule, [rules.<name>].")

    _frozen: dict[str, FrozenDict] = PrivateAttr(default_factory=dict)  # rule settings, frozen once
    _source: tuple[str, str] = PrivateAttr(default=(SETTINGS_FILE, ""))  # (file, text): where errors point
    _checked: frozenset[tuple[str, type[BaseModel] | None]] = PrivateAttr(default=frozenset())
    _dropped: tuple[ConfigError, ...] | None = PrivateAttr(default=None)  # parsed leniently: what was left out

    def rule_settings(self, name: str) -> FrozenDict:
        if name not in self._frozen:
            self._frozen[name] = freeze(self.rules.get(name, {}))
        return self._frozen[name]

    @property
    def source_text(self) -> str:
        """The text these settings were parsed from ("" when built in code)."""
        return self._source[1]

    def narrowed(self, rules: Mapping[str, FrozenDict]) -> Settings:
        """These settings with ``rules`` as their only ``[rules.<name>]`` sections (what one rule's data reads)."""
        narrowed = Settings.model_construct(workspace=self.workspace, cache=self.cache, rules=dict(rules))
        narrowed._frozen = dict(rules)
        narrowed._source = self._source
        return narrowed

    @property
    def is_lenient(self) -> bool:
        """Parsed with ``is_strict=False`` (an older revision's): ``check_rules`` never refuses these settings."""
        return self._dropped is not None

    def check_rules(self, models: Mapping[str, type[BaseModel] | None]) -> None:
        """Validate each ``[rules.<name>]`` against the settings model of the rule or check of that name.

        ``models`` holds every registered name (None: a rule without a model, whose settings are its own
        business). An unknown name or key, or a wrong value, is a ConfigError naming the file and line.
        Lenient settings pass: an older revision was written for the rules of its day (see ``problems``).
        """
        checked = frozenset(models.items())
        if self.is_lenient or checked <= self._checked:
            return
        problems = self.problems(models)
        if problems:
            raise problems[0]
        self._checked = self._checked | checked

    def problems(self, models: Mapping[str, type[BaseModel] | None]) -> tuple[ConfigError, ...]:
        """What ``models`` refuse: the keys a lenient parse left out, then each section's first problem."""
        path, text = self._source
        found = list(self._dropped or ())
        for name in sorted(self.rules):
            if name not in models:
                found.append(ConfigError(
                    f"[rules.{name}]: no rule or check is named {name!r}" + did_you_mean(name, models),
                    file=path,
                    line=line_of_key(text, ("rules",), (name,)),
                    fix="rules: " + ", ".join(sorted(models)) + " (or install the plugin that registers it)",
                ))
            elif (model := models[name]) is not None:
                error = _rule_error(path, text, name, model, self.rules[name])
                found.extend((error,) if error is not None else ())
        return tuple(found)


def _rule_error(path: str, text: str, name: str, model: type[BaseModel], values: Any) -> ConfigError | None:
    try:
        model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(str(p) for p in first["loc"])
        where = ".".join(("rules", name, *loc[:-1]))
        keys = _keys_at(model, loc[:-1])
        if first["type"] == "extra_forbidden":
            message = f"[{where}] has no setting {loc[-1]!r}" + did_you_mean(loc[-1], keys)
        else:
            message = f"[{where}] {loc[-1]}: {first['msg']}" if loc else f"[{where}]: {first['msg']}"
        return ConfigError(
            message,
            file=path,
            line=line_of_key(text, ("rules", name), loc),
            fix=f"[{where}] settings: " + ", ".join(sorted(keys)) if keys else f"see [rules.{name}] in docs/configuration.md",
        )
    return None


def _keys_at(model: type[BaseModel], path: tuple[str, ...]) -> tuple[str, ...]:
    """The keys of the table at ``path`` inside ``model`` (none where the path leaves the models)."""
    for part in path:
        field = model.model_fields.get(part)
        inner = field.annotation if field is not None else None
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            return ()
        model = inner
    return tuple(model.model_fields)


def parse_settings(path: str, text: str, *, is_strict: bool = True) -> Settings:
    """Validate the text of graphbuild.toml; errors name the key, the file and the line.

    ``is_strict=False`` reads an older revision's file, written for the engine and rules of its day: a key
    or value refused today is left out instead of failing, ``[rules.<name>]`` is kept as written (its
    values still reach the fingerprints), and ``Settings.problems`` lists both. Invalid TOML fails either way.

    >>> parse_settings("graphbuild.toml", "[workspace]\\nignores = []\\n", is_strict=False).is_lenient
    True
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+), column (\d+)", str(exc))
        line, col = (int(match[1]), int(match[2])) if match else (None, None)
        raise ConfigError(f"invalid TOML: {exc}", file=path, line=line, col=col, fix="fix the TOML syntax") from None
    dropped: list[ConfigError] = []
    while True:
        try:
            settings = Settings.model_validate(data)
            break
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            error = ConfigError(
                f"{key}: {first['msg']}",
                file=path,
                line=_line_of(text, str(first["loc"][-1])),
                fix=f"see the [{first['loc'][0]}] keys in docs/configuration.md",
            )
            if is_strict or not _drop(data, first["loc"]):
                raise error from None
            dropped.append(error)
    settings._source = (path, text)
    if not is_strict:
        settings._dropped = tuple(dropped)
    return settings


def _drop(data: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    """Remove the key of the section ``loc`` points into (the whole section when ``loc`` has one part)."""
    table, key = (data.get(loc[0]), loc[1]) if len(loc) > 1 else (data, loc[0])
    if isinstance(table, dict) and key in table:
        del table[key]
        return True
    return False


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith(f"{key} ") or stripped.startswith(f"{key}=") or stripped.strip("[]") .endswith(key):
            return number
    return None


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?")


def _header(line: str) -> tuple[str, ...] | None:
    match = _HEADER.match(line)
    return tuple(part.strip().strip("\"'") for part in match[1].split(".")) if match else None


def line_of_key(text: str, table: tuple[str, ...], keys: tuple[str, ...]) -> int | None:
    """The line of ``keys`` under the TOML table ``table`` (the deepest table that holds it), else of the
    table's header.

    >>> line_of_key('[rules.text]\\nencodng = "utf-8"\\n', ("rules", "text"), ("encodng",))
    2
    """
    lines = text.splitlines()
    for depth in range(len(keys) - 1, -1, -1):
        header, key = (*table, *keys[:depth]), keys[depth]
        pattern = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')\s*[=.]")
        current: tuple[str, ...] | None = ()
        for number, line in enumerate(lines, start=1):
            found = _header(line)
            if found is not None:
                current = found
            elif current == header and pattern.match(line):
                return number
    for depth in range(len(keys), -1, -1):
        prefix = (*table, *keys[:depth])
        for number, line in enumerate(lines, start=1):
            found = _header(line)
            if found is not None and found[: len(prefix)] == prefix:
                return number
    return None


@dataclass(frozen=True, slots=True)
class Workspace:
    """A workspace root and its settings."""

    root: Path
    settings: Settings

    @classmethod
    def find(cls, start: Path | str = ".") -> Workspace:
        """Walk up from ``start`` to the folder holding graphbuild.toml."""
        here = Path(start).resolve()
        for folder in (here, *here.parents):
            candidate = folder / SETTINGS_FILE
            if candidate.is_file():
                return cls.load(folder)
        raise WorkspaceError(
            f"no {SETTINGS_FILE} in {here} or any parent folder",
            fix=f"run graphbuild inside a workspace, or pass -C DIR; a workspace root holds {SETTINGS_FILE}",
        )

    @classmethod
    def load(cls, root: Path | str) -> Workspace:
        root = Path(root).resolve()
        path = root / SETTINGS_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise WorkspaceError(f"cannot read {SETTINGS_FILE}: {exc.strerror}", file=str(path)) from None
        return cls(root, parse_settings(SETTINGS_FILE, text))

    @property
    def cache_dir(self) -> Path:
        return self.root / self.settings.cache.dir
