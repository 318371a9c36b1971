"""Run dates and partition values.

A job's run date is the logical date its scheduler hands it (`--run-date 2024-05-01`), never the wall
clock: re-running a date must produce the same partition. Partitions are named `ds=YYYY-MM-DD`.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime, time, timedelta, timezone


def parse_run_date(value: str) -> date:
    """Parse `YYYY-MM-DD`; raise `argparse.ArgumentTypeError` (a clean CLI error) otherwise."""
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"run date must be YYYY-MM-DD, got {value!r}") from exc


def ds(day: date) -> str:
    """The partition value of `day`: `2024-05-01`."""
    return day.isoformat()


def ds_window(run_date: date, days: int) -> tuple[str, str]:
    """First and last partition value of the `days`-day window that ends on `run_date` (inclusive)."""
    if days < 1:
        raise ValueError(f"a window has at least one day, got {days}")
    return ds(run_date - timedelta(days=days - 1)), ds(run_date)


def day_bounds(run_date: date) -> tuple[datetime, datetime]:
    """The UTC half-open interval [00:00, next day 00:00) of `run_date`."""
    start = datetime.combine(run_date, time.min, tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def end_of_day(run_date: date) -> datetime:
    """The cut-off of a daily run: midnight UTC after `run_date`.

    Scores and features computed for `run_date` are stamped with it (`scored_at`, `computed_at`), so a
    rerun of the date writes the same values.
    """
    return day_bounds(run_date)[1]


def epoch_millis(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime (Kafka timestamps are in milliseconds)."""
    if moment.tzinfo is None:
        raise ValueError("epoch_millis needs an aware datetime; the lake is in UTC")
    return int(moment.timestamp() * 1000)
