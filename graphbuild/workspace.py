"""The workspace: its root (the folder holding ``graphbuild.toml``) and its validated settings.

>>> settings = parse_settings("graphbuild.toml", '[workspace]\\nglobal_inputs = ["constraints.txt"]\\n')
>>> settings.workspace.global_inputs
('constraints.txt',)
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from graphbuild.errors import ConfigError, WorkspaceError
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

    def rule_settings(self, name: str) -> FrozenDict:
        if name not in self._frozen:
            self._frozen[name] = freeze(self.rules.get(name, {}))
        return self._frozen[name]


def parse_settings(path: str, text: str) -> Settings:
    """Validate the text of graphbuild.toml; errors name the key, the file and the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+), column (\d+)", str(exc))
        line, col = (int(match[1]), int(match[2])) if match else (None, None)
        raise ConfigError(f"invalid TOML: {exc}", file=path, line=line, col=col, fix="fix the TOML syntax") from None
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{key}: {first['msg']}",
            file=path,
            line=_line_of(text, str(first["loc"][-1])),
            fix=f"see the [{first['loc'][0]}] keys in docs/configuration.md",
        ) from None


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith(f"{key} ") or stripped.startswith(f"{key}=") or stripped.strip("[]") .endswith(key):
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
