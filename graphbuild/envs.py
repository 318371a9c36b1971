"""Environments: ``environments/<name>.toml`` validated strictly, and who may approve their plans.

An environment names the backend of each rule that deploys, where its state lives, who must approve
a plan before it is deployed, the environment it promotes from, variables, and secret *references*
(resolved only when a step runs)::

    description = "Production."
    production = true
    promote_from = "staging"
    state = "state"            # the state store: a folder below the workspace root (s3:// later)
    backend_dir = "local/prod" # where the embedded local backends keep the environment

    [backends]
    warehouse = "local"        # rule name = backend

    [approvals]
    required = 2
    groups = ["data-platform-leads"]
    author_may_approve = false # never true for a production environment

    [variables]
    backfill_end = "2026-11-26"

    [secrets]
    warehouse = "secret:aws-sm:finsight/prod/warehouse"

Groups and their members live in ``environments/groups.toml`` (``[groups] name = ["who", ...]``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from graphbuild.errors import ConfigError
from graphbuild.secrets import SecretRef, resolve
from graphbuild.values import FrozenDict, freeze

__all__ = ["Approvals", "Environment", "EnvironmentSettings", "load_environment", "load_groups", "ENVIRONMENTS_DIR"]

ENVIRONMENTS_DIR = "environments"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Approvals(_Strict):
    required: int = Field(default=0, ge=0, description="Distinct approvals a plan needs before it is deployed.")
    groups: tuple[str, ...] = Field(default=(), description="Groups (environments/groups.toml) whose members may approve.")
    author_may_approve: bool = Field(default=False, description="Whether the plan's author counts as an approver.")


class EnvironmentSettings(_Strict):
    description: str = ""
    production: bool = Field(default=False, description="A production environment: its author never approves.")
    promote_from: str | None = Field(default=None, description="Only fingerprints deployed there may be deployed here.")
    state: str = Field(default="state", description="The state store: a folder relative to the workspace root.")
    backend_dir: str = Field(description="The folder of the embedded local backends of this environment.")
    backends: dict[str, str] = Field(default_factory=dict, description="Backend per rule; a rule not listed uses 'local'.")
    approvals: Approvals = Approvals()
    variables: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict, description="Name -> secret reference (never a value).")

    @field_validator("state", "backend_dir")
    @classmethod
    def _relative(cls, value: str) -> str:
        if value.startswith("s3://"):
            raise ValueError("an s3:// state store is not available yet; use a folder below the workspace root")
        if Path(value).is_absolute() or ".." in Path(value).parts:
            raise ValueError("must be a folder below the workspace root (no absolute path, no ..)")
        return value

    @field_validator("secrets")
    @classmethod
    def _references(cls, value: dict[str, str]) -> dict[str, str]:
        for name, ref in value.items():
            SecretRef.parse(ref)  # raises with the fix; a literal value is refused here
        return value

    @model_validator(mode="after")
    def _production(self) -> EnvironmentSettings:
        if self.production and self.approvals.author_may_approve:
            raise ValueError("approvals.author_may_approve: a production environment's author never approves its own plan")
        return self


@dataclass(frozen=True)
class Environment:
    """One loaded environment: its name, settings and where its folders are."""

    name: str
    settings: EnvironmentSettings
    root: Path  # the workspace root
    file: str  # workspace-relative path of its settings file

    @property
    def state_dir(self) -> Path:
        return self.root / self.settings.state

    @property
    def backend_dir(self) -> Path:
        return self.root / self.settings.backend_dir

    @property
    def variables(self) -> FrozenDict:
        return freeze(self.settings.variables)

    def backend(self, rule: str) -> str:
        return self.settings.backends.get(rule, "local")

    def secret(self, name: str, *, environ: Any = None) -> str:
        """Resolve one named secret now (the local backends read it from the environment)."""
        ref = self.settings.secrets.get(name)
        if ref is None:
            raise ConfigError(
                f"environment {self.name} has no secret named {name!r}",
                file=self.file,
                fix=f"add it under [secrets] as a reference, e.g. {name} = \"secret:aws-sm:finsight/{self.name}/{name}\"",
            )
        return resolve(SecretRef.parse(ref, file=self.file), local=True, environ=environ)


def load_environment(root: Path, name: str) -> Environment:
    """Read and validate ``environments/<name>.toml``; errors name the file, the line and the fix."""
    if not _NAME.match(name):
        raise ConfigError(f"{name!r} is not an environment name", fix="use lower-case letters, digits and dashes")
    rel = f"{ENVIRONMENTS_DIR}/{name}.toml"
    path = root / rel
    if not path.is_file():
        known = sorted(p.stem for p in (root / ENVIRONMENTS_DIR).glob("*.toml") if p.stem != "groups")
        raise ConfigError(f"no environment {name!r}", file=rel, fix=f"pick one of {', '.join(known) or 'none'}, or add {rel}")
    text = path.read_text()
    settings = _validate(EnvironmentSettings, _toml(rel, text), rel, text)
    if settings.promote_from is not None and settings.promote_from == name:
        raise ConfigError("an environment cannot promote from itself", file=rel, line=_line_of(text, "promote_from"))
    return Environment(name, settings, root, rel)


class _Groups(_Strict):
    groups: dict[str, tuple[str, ...]] = Field(default_factory=dict)


def load_groups(root: Path) -> dict[str, frozenset[str]]:
    """Approver groups from ``environments/groups.toml`` (absent: no groups)."""
    rel = f"{ENVIRONMENTS_DIR}/groups.toml"
    path = root / rel
    if not path.is_file():
        return {}
    text = path.read_text()
    groups = _validate(_Groups, _toml(rel, text), rel, text)
    return {name: frozenset(members) for name, members in groups.groups.items()}


def _toml(rel: str, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+), column (\d+)", str(exc))
        line, col = (int(match[1]), int(match[2])) if match else (None, None)
        raise ConfigError(f"invalid TOML: {exc}", file=rel, line=line, col=col, fix="fix the TOML syntax") from None


def _validate(model: type[BaseModel], data: dict[str, Any], rel: str, text: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        loc = [str(p) for p in first["loc"]] or message.partition(":")[0].split(".")  # a model check names its key
        key = ".".join(loc)
        message = message.removeprefix(f"{key}: ")
        last = loc[-1]
        raise ConfigError(f"{key}: {message}", file=rel, line=_line_of(text, last), fix="see docs/deploy.md") from None
    except ConfigError as exc:  # a secret reference refused inside a validator
        exc.file = rel
        raise


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if key and re.match(rf"\s*{re.escape(key)}\s*=", line):
            return number
    return None
