"""default_args for FinSight DAGs, one owning team per DAG.

Every DAG passes `default_args=default_args(owner="payments-data", ...)`. The owner must be one of the
teams below (the on-call rotation that receives the DAG's alerts); retries always come with a delay,
and every task has an execution timeout so that a hung task frees its pool slot::

    default_args(owner="ledger-data", retries=3, retry_delay=timedelta(minutes=10),
                 execution_timeout=timedelta(hours=1), severity="critical")
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from common.alerts import SEVERITIES, failure_callback

# Teams that own DAGs; each maps to an on-call rotation and an alert channel.
TEAMS = frozenset(
    {
        "payments-data",
        "cards-data",
        "ledger-data",
        "treasury-data",
        "risk-data",
        "compliance-data",
        "customer-data",
        "finance-reporting",
        "ml-platform",
        "data-platform",
    }
)


def default_args(
    owner: str,
    *,
    retries: int = 2,
    retry_delay: timedelta = timedelta(minutes=5),
    backoff_multiplier: float = 0,
    max_retry_delay: timedelta | None = None,
    execution_timeout: timedelta = timedelta(hours=2),
    depends_on_past: bool = False,
    severity: str = "high",
) -> dict[str, Any]:
    """The default_args of a DAG owned by `owner`.

    `backoff_multiplier` > 0 grows the delay between retries (for tasks that wait on a partner or a
    rate-limited API); 0 keeps it constant. Raises ValueError for an unknown team, a retry count below one or a non-positive delay, so a
    misconfigured DAG fails at parse time (an import error in the DagBag) instead of in production.
    """
    if owner not in TEAMS:
        raise ValueError(f"unknown owner {owner!r}; DAGs are owned by one of: {', '.join(sorted(TEAMS))}")
    if retries < 1:
        raise ValueError(f"retries must be at least 1 (tasks are idempotent), got {retries}")
    if retry_delay <= timedelta(0):
        raise ValueError("retry_delay must be positive")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    args: dict[str, Any] = {
        "owner": owner,
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": backoff_multiplier,
        "execution_timeout": execution_timeout,
        "depends_on_past": depends_on_past,
        "on_failure_callback": failure_callback(severity),
    }
    if max_retry_delay is not None:
        args["max_retry_delay"] = max_retry_delay
    return args
