"""Health and drift of dbt models on Snowflake (``MONITOR`` of ``rules.deploy.dbt_snowflake``).

Health, per deployed model, through the Snowflake connector: ``row_count`` of the environment's view
against the previous version's physical relation (the catalog's ``PHYSICAL_VERSIONS`` row), with the
threshold logic of ``rules.deploy.dbt_health`` (``[health] max_row_count_drop``). A model new in this
version is measured, not compared.

Drift: the catalog's ``ENVIRONMENT_VIEWS`` row of each view must name the fingerprint the plan deployed.

The credential is the ``[secrets]`` entry ``[snowflake] secret`` names, resolved through the monitor
context as a deploy step resolves it; it is never logged or put in a check's detail.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from graphbuild.plan.definition import Step
from graphbuild.plan.monitor import Check, Drift, MonitorContext
from graphbuild.values import thaw
from rules.deploy import dbt_health
from rules.deploy.dbt_snowflake import CATALOG, _connect, _version
from rules.deploy.snowflake_sql import identifier

__all__ = ["drift", "health"]


def health(steps: Sequence[Step], ctx: MonitorContext) -> Iterator[Check]:
    """Row count of each deployed model's view against its previous version's relation."""
    for settings, models in _by_database(steps).items():
        with _connect(dict(settings), _secret(ctx, dict(settings)["secret"])) as cursor:
            for step in models:
                yield _row_count(cursor, step, ctx)


def _row_count(cursor: Any, step: Step, ctx: MonitorContext) -> Check:
    request = step.request
    db = identifier(request["snowflake"]["database"])
    name, view_schema = request["node"], request["view_schema"]
    now = _rows(cursor, f"{db}.{identifier(view_schema)}.{identifier(name)}")
    if now is None:
        return Check.of(step.label, "row_count", "failed", f"view {view_schema}.{name} is missing")
    before = None
    before_fp = ctx.previous_fingerprint(step.label)
    if before_fp is not None and before_fp != step.fingerprint:
        found = _version(cursor, db, name, before_fp)
        rows = _rows(cursor, f"{db}.{identifier(found['schema'])}.{identifier(found['relation'])}") if found else None
        before = None if rows is None else {"rows": rows}
    limit = float(ctx.thresholds.get("max_row_count_drop", 0.2))
    return dbt_health._row_count(step.label, {"rows": now}, before, limit)


def drift(steps: Sequence[Step], ctx: MonitorContext) -> Iterable[Drift]:
    """Each deployed model's catalog row must name the fingerprint of the plan."""
    found: list[Drift] = []
    for settings, models in _by_database(steps).items():
        with _connect(dict(settings), _secret(ctx, dict(settings)["secret"])) as cursor:
            db = identifier(dict(settings)["database"])
            for step in models:
                view_schema, name = step.request["view_schema"], step.request["node"]
                cursor.execute(f"SELECT fingerprint FROM {db}.{CATALOG}.ENVIRONMENT_VIEWS WHERE view_schema = %s AND model = %s",
                               (identifier(view_schema), name))
                row = cursor.fetchone()
                if row is None or row[0] != step.fingerprint:
                    found.append(Drift(step.label, "view", step.fingerprint[:12], row[0][:12] if row else "missing"))
    return found


def _by_database(steps: Sequence[Step]) -> Mapping[tuple[tuple[str, Any], ...], list[Step]]:
    grouped: dict[tuple[tuple[str, Any], ...], list[Step]] = {}
    for step in steps:
        if step.operation == "apply" and "snowflake" in step.request:
            key = tuple(sorted(thaw(step.request["snowflake"]).items()))
            grouped.setdefault(key, []).append(step)
    return grouped


def _rows(cursor: Any, relation: str) -> int | None:
    try:
        cursor.execute(f"SELECT COUNT(*) FROM {relation}")
    except Exception:  # snowflake.connector.ProgrammingError: the relation is gone
        return None
    return int(cursor.fetchone()[0])


def _secret(ctx: MonitorContext, name: str) -> str:
    key = ("snowflake-secret", name)
    if key not in ctx.memo:  # one resolution per health run, shared by health and drift
        ctx.memo[key] = ctx.secret(name)
    return ctx.memo[key]
