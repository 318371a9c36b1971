"""What every embedded local backend shares: the backend check at plan time and idempotent atomic writes.

>>> import tempfile, pathlib; folder = pathlib.Path(tempfile.mkdtemp())
>>> write_if_changed(folder / "a.json", "{}"), write_if_changed(folder / "a.json", "{}")
(True, False)
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from graphbuild.errors import DeployError
from graphbuild.fsutil import atomic_write
from graphbuild.workspace import line_of_key

__all__ = ["BACKENDS", "other_backend", "require_local", "require_settings", "write_if_changed", "write_json"]

BACKENDS = ("local",)


def require_local(ctx: Any, rule: str, *, others: tuple[str, ...] = ()) -> None:
    """Refuse at plan time a backend this rule does not have (``ctx`` is a ``DeployPlanContext``);
    ``others`` are the rule's backends besides the local ones."""
    if ctx.backend not in (*BACKENDS, *others):
        raise DeployError(
            f"the {rule} rule has no deploy backend {ctx.backend!r} (it has: {', '.join((*BACKENDS, *others))})",
            file=f"environments/{ctx.env}.toml",
            fix=f"set [backends] {rule} = \"local\" in environments/{ctx.env}.toml",
        )


def other_backend(ctx: Any, rule: str, others: Mapping[str, str]) -> Callable[..., Any] | None:
    """Refuse a backend the rule lacks (``require_local``); for one of ``others`` (name -> ``"module:function"``),
    the function that makes its steps, imported only now; None for a local backend."""
    require_local(ctx, rule, others=tuple(others))
    if ctx.backend not in others:
        return None
    module, _, name = others[ctx.backend].partition(":")
    return getattr(importlib.import_module(module), name)


def require_settings(ctx: Any, section: str, example: str, model: type[BaseModel] | None = None) -> dict[str, Any]:
    """The environment's ``[section]`` the backend reads (``ctx.settings``), validated by the backend's ``model``
    at plan time; a missing section or a bad key is a ``DeployError`` naming the file, the key's line and the fix.

    ``model`` may read the names of the environment's ``[secrets]`` (never their values) from the validation
    context, ``{"secrets": ctx.secrets}`` (None when the context does not know them).
    """
    from graphbuild.values import thaw

    rel = f"environments/{ctx.env}.toml"
    settings = thaw(ctx.settings)
    if not settings:
        raise DeployError(f"environment {ctx.env} uses the {ctx.backend} backend but has no [{section}] section",
                          file=rel, fix=f"add [{section}] with {example}")
    if model is None:
        return dict(settings)
    try:
        return model.model_validate(settings, context={"secrets": getattr(ctx, "secrets", None)}).model_dump(by_alias=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(str(part) for part in first["loc"])
        key = ".".join((section, *loc))
        message = str(first["msg"]).removeprefix("Value error, ")  # never the input: it may be a pasted secret
        line = line_of_key(getattr(ctx, "source", "") or "", (section,), loc) if loc else None
        raise DeployError(f"{key}: {message}", file=rel, line=line,
                          fix=f"correct {key} in {rel}: [{section}] takes {example} (docs/deploy.md)") from None


def write_if_changed(path: Path, data: bytes | str) -> bool:
    """Replace ``path`` atomically unless it already holds exactly ``data``; whether it wrote."""
    payload = data.encode() if isinstance(data, str) else data
    try:
        if path.read_bytes() == payload:
            return False
    except OSError:
        pass
    atomic_write(path, payload)
    return True


def write_json(path: Path, value: dict[str, Any]) -> bool:
    return write_if_changed(path, json.dumps(value, indent=2, sort_keys=True) + "\n")
