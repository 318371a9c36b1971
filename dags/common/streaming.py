"""Supervision of the Structured Streaming jobs.

The three streaming jobs (payments_stream_ingest, card_auth_stream_ingest, fraud_signal_stream) keep
their checkpoints under `$FINSIGHT_CHECKPOINT_URI/<job>/`; every completed micro-batch writes a file in
the checkpoint's `commits/` folder. That folder is what these helpers read:

    stream_progress_sensor(task_id="stream_passed_midnight", job="payments_stream_ingest")
    stream_lag_check(task_id="payments_lag", job="payments_stream_ingest", max_lag=timedelta(minutes=5))
    checkpoint_backup(task_id="backup", job="fraud_signal_stream")
    commit_gap_check(task_id="deploy_gap", job="payments_stream_ingest", window=timedelta(hours=1),
                     max_gap=timedelta(minutes=2))

Starting, restarting and ensure-running a streaming job is `spark_task(..., mode="streaming")`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.standard.sensors.python import PythonSensor

from common.partitions import INTERVAL_END
from common.spark import check_job
from common.storage import env_location, latest_modified, list_objects

RUN_AFTER = "{{ dag_run.run_after.isoformat() }}"

STREAMING_JOBS = ("payments_stream_ingest", "card_auth_stream_ingest", "fraud_signal_stream")


def _streaming_job(job: str) -> str:
    check_job(job)
    if job not in STREAMING_JOBS:
        raise ValueError(f"{job!r} is not a streaming job; streaming jobs are {', '.join(STREAMING_JOBS)}")
    return job


def last_commit(job: str) -> datetime | None:
    """When the job's query last committed a micro-batch (runs on the worker)."""
    return latest_modified(f"{env_location('FINSIGHT_CHECKPOINT_URI')}/{job}/commits")


def has_committed_since(job: str, mark: str, grace_seconds: int) -> bool:
    """Sensor callable: has `job` committed a micro-batch after `mark` + grace?"""
    committed = last_commit(job)
    threshold = datetime.fromisoformat(mark) + timedelta(seconds=grace_seconds)
    return committed is not None and committed >= threshold


def assert_lag_within(job: str, mark: str, max_lag_seconds: int) -> str:
    """Fail when the job's last commit is older than `max_lag_seconds` before `mark`."""
    committed = last_commit(job)
    if committed is None:
        raise RuntimeError(f"{job} has never committed a micro-batch (no commits in its checkpoint)")
    lag = datetime.fromisoformat(mark) - committed
    if lag > timedelta(seconds=max_lag_seconds):
        raise RuntimeError(f"{job} last committed at {committed.isoformat()}, {lag} before {mark}")
    return committed.isoformat()


def commit_times(job: str) -> list[datetime]:
    """When each micro-batch in the job's checkpoint was committed, oldest first (runs on the worker)."""
    return sorted(modified for _, modified in list_objects(f"{env_location('FINSIGHT_CHECKPOINT_URI')}/{job}/commits"))


def longest_gap(commits: list[datetime], start: datetime, end: datetime) -> timedelta:
    """The longest time without a commit inside [start, end] (edges count as boundaries)."""
    inside = [moment for moment in commits if start <= moment <= end]
    marks = [start, *inside, end]
    return max((later - earlier for earlier, later in zip(marks, marks[1:])), default=end - start)


def assert_gap_within(job: str, mark: str, window_seconds: int, max_gap_seconds: int) -> str:
    """Fail when `job` went more than `max_gap_seconds` without a commit in the window before `mark`."""
    end = datetime.fromisoformat(mark)
    gap = longest_gap(commit_times(job), end - timedelta(seconds=window_seconds), end)
    if gap > timedelta(seconds=max_gap_seconds):
        raise RuntimeError(f"{job} went {gap} without committing in the {window_seconds}s before {mark}")
    return str(gap)


def stream_progress_sensor(
    task_id: str,
    job: str,
    *,
    grace: timedelta = timedelta(minutes=10),
    poke_interval: timedelta = timedelta(minutes=2),
    timeout: timedelta = timedelta(hours=2),
    **operator_kwargs: Any,
) -> PythonSensor:
    """Wait until streaming `job` has committed past the end of the run's data interval (+ grace)."""
    _streaming_job(job)
    return PythonSensor(
        task_id=task_id,
        python_callable=has_committed_since,
        op_kwargs={"job": job, "mark": INTERVAL_END, "grace_seconds": int(grace.total_seconds())},
        mode="reschedule",
        poke_interval=poke_interval,
        timeout=timeout,
        doc_md=f"Waits until streaming job `{job}` has committed past the data interval.",
        **operator_kwargs,
    )


def stream_lag_check(task_id: str, job: str, *, max_lag: timedelta, **operator_kwargs: Any) -> PythonOperator:
    """Fail (and alert) when streaming `job` has not committed within `max_lag` of the run's mark."""
    _streaming_job(job)
    return PythonOperator(
        task_id=task_id,
        python_callable=assert_lag_within,
        op_kwargs={"job": job, "mark": INTERVAL_END, "max_lag_seconds": int(max_lag.total_seconds())},
        doc_md=f"Checks that `{job}` committed a micro-batch within {max_lag}.",
        **operator_kwargs,
    )


def checkpoint_backup(task_id: str, job: str, **operator_kwargs: Any) -> BashOperator:
    """Copy the job's checkpoint to the backup location, keyed by the run's logical timestamp."""
    _streaming_job(job)
    command = (
        "set -euo pipefail\n"
        f'aws s3 sync "${{FINSIGHT_CHECKPOINT_URI:?}}/{job}/" '
        f'"${{FINSIGHT_CHECKPOINT_BACKUP_URI:?}}/{job}/{{{{ ts_nodash }}}}/" --only-show-errors --exact-timestamps'
    )
    return BashOperator(
        task_id=task_id, bash_command=command, doc_md=f"Backs up the checkpoint of `{job}`.", **operator_kwargs
    )


def commit_gap_check(
    task_id: str,
    job: str,
    *,
    window: timedelta,
    max_gap: timedelta,
    mark: str = INTERVAL_END,
    **operator_kwargs: Any,
) -> PythonOperator:
    """Fail when streaming `job` stopped committing for longer than `max_gap` within `window` before `mark`.

    This is how an interruption (a deploy, a restart) is measured: the longest stretch without a
    completed micro-batch.
    """
    _streaming_job(job)
    if max_gap >= window:
        raise ValueError("max_gap must be shorter than the window it is measured in")
    return PythonOperator(
        task_id=task_id,
        python_callable=assert_gap_within,
        op_kwargs={
            "job": job,
            "mark": mark,
            "window_seconds": int(window.total_seconds()),
            "max_gap_seconds": int(max_gap.total_seconds()),
        },
        doc_md=f"Checks that `{job}` never went more than {max_gap} without committing.",
        **operator_kwargs,
    )
