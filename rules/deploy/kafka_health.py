"""Drift of the file-backed schema registry (``MONITOR`` of ``rules.deploy.kafka_local``).

The topic's schema as the plan stored it must be registered (same canonical form) in a subject that is
not deleted, under the plan's compatibility mode. A registry has no health of its own here: its checks
run before the registration (``rules.deploy.kafka_local.require_compatible``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from graphbuild.plan.definition import Step
from graphbuild.plan.monitor import Drift, MonitorContext
from rules.deploy.kafka_local import canonical_schema, load_schema

__all__ = ["drift"]


def drift(steps: Sequence[Step], ctx: MonitorContext) -> Iterator[Drift]:
    """Each deployed topic's schema among the registered versions of its live subject."""
    for step in steps:
        if step.operation != "apply" or "subject" not in step.request:
            continue
        subject = step.request["subject"]
        folder = ctx.backend_dir / "registry" / subject
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            yield Drift(step.label, "subject", subject, "missing")
            continue
        if config.get("deleted") or config.get("compatibility") != step.request["compatibility"]:
            yield Drift(step.label, "subject", f"{subject} ({step.request['compatibility']})",
                        f"{subject} ({config.get('compatibility')}{', deleted' if config.get('deleted') else ''})")
        path = step.request["schema"]
        wanted = canonical_schema(load_schema(ctx.read_blob(step.files[path]), path))
        versions = sorted((folder / "versions").glob("*.avsc")) if (folder / "versions").is_dir() else []
        if not any(canonical_schema(load_schema(v.read_bytes(), str(v))) == wanted for v in versions):
            yield Drift(step.label, "schema version", f"{path} registered", f"not among {len(versions)} registered versions")
