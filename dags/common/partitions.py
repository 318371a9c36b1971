"""Logical-date templates and partition predicates.

Every FinSight task is partitioned by its run's data interval, rendered by Airflow when the task runs,
never by the wall clock: re-running a run rewrites exactly the partition it wrote the first time.
Lake tables are partitioned by `ds=YYYY-MM-DD` (see spark/lib/finsight_spark/io.py).

Grains:
    daily    the day of the run's logical date (`{{ ds }}`); daily DAGs use data-interval timetables,
             so the run that starts after midnight processes the day that just ended
    hourly   the run's data interval [data_interval_start, data_interval_end) inside its day
    monthly  the calendar month that the data interval covers
    range    `params.start_date` .. `params.end_date`, inclusive: backfill DAGs that a person triggers
"""

from __future__ import annotations

GRAINS = ("daily", "hourly", "monthly", "range")

DS = "{{ ds }}"
DS_NODASH = "{{ ds_nodash }}"
INTERVAL_START = "{{ data_interval_start.isoformat() }}"
INTERVAL_END = "{{ data_interval_end.isoformat() }}"
INTERVAL_START_DS = "{{ data_interval_start | ds }}"
INTERVAL_END_DS = "{{ data_interval_end | ds }}"
HOUR = "{{ data_interval_start.strftime('%H') }}"
MONTH = "{{ data_interval_start.strftime('%Y-%m') }}"
MONTH_START = "{{ data_interval_start.start_of('month') | ds }}"
MONTH_END = "{{ data_interval_start.end_of('month') | ds }}"
PARAM_START = "{{ params.start_date }}"
PARAM_END = "{{ params.end_date }}"


def check_grain(grain: str) -> str:
    """Return `grain`, or raise ValueError naming the grains there are."""
    if grain not in GRAINS:
        raise ValueError(f"unknown partition grain {grain!r}; use one of {', '.join(GRAINS)}")
    return grain


def ds_offset(days: int) -> str:
    """The template of the day `days` before (negative) or after the logical date."""
    return f"{{{{ macros.ds_add(ds, {int(days)}) }}}}"


def date_bounds(grain: str) -> tuple[str, str]:
    """First and last day (inclusive, `YYYY-MM-DD` templates) that a run of `grain` covers."""
    check_grain(grain)
    if grain == "monthly":
        return MONTH_START, MONTH_END
    if grain == "range":
        return PARAM_START, PARAM_END
    return DS, DS


def interval_vars(grain: str) -> dict[str, str]:
    """Variables besides `run_date` that a run hands to dbt: its hour window or its month."""
    check_grain(grain)
    if grain == "hourly":
        return {"window_start": INTERVAL_START, "window_end": INTERVAL_END}
    if grain == "monthly":
        return {"period_start": MONTH_START, "period_end": MONTH_END}
    return {}


def partition_predicate(grain: str, column: str = "ds", *, timestamp_column: str | None = None) -> str:
    """A SQL predicate selecting the rows of a run's partition.

    `column` is the date (or `ds` string) column; for hourly runs `timestamp_column` narrows the day to
    the data interval.
    """
    first, last = date_bounds(grain)
    if grain == "hourly":
        if timestamp_column is None:
            raise ValueError("hourly predicates need the timestamp_column that places a row in its hour")
        return (
            f"{column} = '{DS}' AND {timestamp_column} >= '{INTERVAL_START}'::timestamptz"
            f" AND {timestamp_column} < '{INTERVAL_END}'::timestamptz"
        )
    if first == last:
        return f"{column} = '{first}'"
    return f"{column} BETWEEN '{first}' AND '{last}'"


def run_date_shell(body: str, grain: str, run_date: str | None = None) -> str:
    """Wrap a shell `body` that reads "$RUN_DATE" so that it runs for the run's partition.

    Daily and hourly runs execute it once for the logical date, monthly runs once for the last day of
    the month; range runs (backfills) loop day by day, oldest first, so a backfill is the daily command
    repeated and every day stays its own idempotent partition. `run_date` replaces the logical date
    of a daily run by another template derived from it (a restatement of an earlier day).
    """
    check_grain(grain)
    if run_date is not None and grain != "daily":
        raise ValueError("run_date overrides the partition of daily runs only")
    if grain != "range":
        run_date = run_date or (MONTH_END if grain == "monthly" else DS)
        return f'RUN_DATE="{run_date}"\n{body}'
    return (
        f'RUN_DATE="{PARAM_START}"\n'
        f'while [[ ! "$RUN_DATE" > "{PARAM_END}" ]]; do\n'
        f"{body}\n"
        'RUN_DATE="$(date -u -I -d "$RUN_DATE + 1 day")"\n'
        "done"
    )
