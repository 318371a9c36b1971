"""What every embedded local backend shares: the backend check at plan time and idempotent atomic writes.

>>> import tempfile, pathlib; folder = pathlib.Path(tempfile.mkdtemp())
>>> write_if_changed(folder / "a.json", "{}"), write_if_changed(folder / "a.json", "{}")
(True, False)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from graphbuild.errors import DeployError
from graphbuild.fsutil import atomic_write

__all__ = ["BACKENDS", "require_local", "write_if_changed", "write_json"]

BACKENDS = ("local",)


def require_local(ctx: Any, rule: str) -> None:
    """Refuse at plan time a backend this rule does not have (``ctx`` is a ``DeployPlanContext``)."""
    if ctx.backend not in BACKENDS:
        raise DeployError(
            f"the {rule} rule has no deploy backend {ctx.backend!r} (it has: {', '.join(BACKENDS)})",
            file=f"environments/{ctx.env}.toml",
            fix=f"set [backends] {rule} = \"local\" in environments/{ctx.env}.toml",
        )


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
