"""spark_task: run a FinSight Spark job on the EMR cluster.

    spark_task(task_id="clean_payments", job="payments_clean")
    spark_task(task_id="score_day", job="card_fraud_scoring", executor_memory="16g", max_executors=60)
    spark_task(task_id="ensure_running", job="payments_stream_ingest", mode="streaming")

`job` is the name of a package under spark/jobs/; the DAG rule of graphbuild reads it as the edge to
that job. The deploy pipeline publishes each job as `$SPARK_ARTIFACTS_URI/jobs/<job>.zip` with its
entry point at `$SPARK_ARTIFACTS_URI/jobs/<job>/main.py`, next to the shared library
`$SPARK_ARTIFACTS_URI/lib/finsight_spark.zip`; the worker's Spark client submits to the cluster's YARN.

Every job takes the command line of spark/lib/finsight_spark/cli.py: batch jobs get `--run-date` (the
run's partition, see common.partitions) and `--base-path` (the lake root), and replace exactly that
`ds` partition, so a retry or a re-run is idempotent; streaming jobs get `--checkpoint`. `args` adds
a job's own flags (for example a streaming job's `--trigger-interval`). Backfills (grain "range")
submit the job once per day. Streaming jobs are submitted only when no application of that name is
running on YARN (ensure-running), with their checkpoint, so a restart resumes where the query stopped.
"""

from __future__ import annotations

import re
import shlex
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.bash import BashOperator

from common.partitions import check_grain, run_date_shell

MODES = ("batch", "streaming")
_JOB = re.compile(r"^[a-z][a-z0-9_]*$")
_MEMORY = re.compile(r"^[1-9][0-9]*[gm]$")


def check_job(job: str) -> str:
    """Return `job`, or raise ValueError when it cannot be a package name under spark/jobs/."""
    if not _JOB.match(job):
        raise ValueError(f"spark job names are snake case package names, got {job!r}")
    return job


def application_name(job: str, mode: str) -> str:
    """The YARN application name; streaming names are stable so that ensure-running can find them."""
    return f"finsight-stream-{job}" if mode == "streaming" else f"finsight-{job}-$RUN_DATE"


def submit_command(
    job: str,
    *,
    mode: str,
    executor_memory: str,
    executor_cores: int,
    max_executors: int | None,
    conf: dict[str, str] | None,
    args: list[str] | None,
) -> str:
    """The spark-submit invocation of `job` (shell text using "$RUN_DATE" for batch jobs)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not _MEMORY.match(executor_memory):
        raise ValueError(f"executor_memory looks like '8g' or '512m', got {executor_memory!r}")
    settings = {
        "spark.executor.memory": executor_memory,
        "spark.executor.cores": str(int(executor_cores)),
        "spark.yarn.tags": "airflow,job:" + job + ",dag:{{ dag.dag_id }}",
    }
    if max_executors is not None:
        settings["spark.dynamicAllocation.maxExecutors"] = str(int(max_executors))
    if mode == "streaming":
        settings.update(
            {
                "spark.yarn.submit.waitAppCompletion": "false",
                "spark.yarn.maxAppAttempts": "4",
                "spark.yarn.am.attemptFailuresValidityInterval": "1h",
            }
        )
    settings.update(conf or {})
    artifacts = '"${SPARK_ARTIFACTS_URI:?}'
    lines = [
        "spark-submit --master yarn --deploy-mode cluster",
        f'--name "{application_name(job, mode)}"',
        f'--py-files {artifacts}/lib/finsight_spark.zip,${{SPARK_ARTIFACTS_URI}}/jobs/{job}.zip"',
        *(f"--conf {shlex.quote(f'{key}={value}')}" for key, value in sorted(settings.items())),
        # The driver runs on the cluster: it gets the brokers through its environment (topic-reading jobs
        # default --bootstrap-servers to it) and the lake root as a flag.
        '--conf "spark.yarn.appMasterEnv.FINSIGHT_KAFKA_BOOTSTRAP=${FINSIGHT_KAFKA_BOOTSTRAP:-}"',
        f'{artifacts}/jobs/{job}/main.py"',
        '--base-path "${FINSIGHT_LAKE_PATH:?}"',
    ]
    if mode == "batch":
        lines.append('--run-date "$RUN_DATE"')
    else:
        lines.append(f'--checkpoint "${{FINSIGHT_CHECKPOINT_URI:?}}/{job}"')
    if args:
        lines.append(" ".join(shlex.quote(str(arg)) for arg in args))
    return " \\\n  ".join(lines)


def _ensure_running(job: str, submit: str, *, restart: bool) -> str:
    app = application_name(job, "streaming")
    find = (
        "yarn application -list -appStates SUBMITTED,ACCEPTED,RUNNING 2>/dev/null"
        " | awk 'NR>2 {print $1, $2}' | awk -v app=\"" + app + "\" '$2 == app {print $1}'"
    )
    script = [f"APP_IDS=$({find})"]
    if restart:
        script += [
            'for APP_ID in $APP_IDS; do yarn application -kill "$APP_ID"; done',
            'APP_IDS=""',
        ]
    script += [
        'if [[ -n "$APP_IDS" ]]; then echo "' + app + ' is running: $APP_IDS"; exit 0; fi',
        submit,
    ]
    return "\n".join(script)


def spark_task(
    task_id: str,
    job: str,
    *,
    mode: str = "batch",
    grain: str = "daily",
    run_date: str | None = None,
    args: list[str] | None = None,
    executor_memory: str = "8g",
    executor_cores: int = 4,
    max_executors: int | None = None,
    conf: dict[str, str] | None = None,
    restart: bool = False,
    pool: str | None = None,
    execution_timeout: timedelta | None = None,
    **operator_kwargs: Any,
) -> BashOperator:
    """A task that runs Spark job `job`: one partition (batch) or ensure-running (streaming)."""
    check_job(job)
    check_grain(grain)
    if mode == "streaming" and (run_date is not None or grain != "daily"):
        raise ValueError("streaming jobs run continuously; they take no partition")
    if restart and mode != "streaming":
        raise ValueError("restart applies to streaming jobs only")
    submit = submit_command(
        job,
        mode=mode,
        executor_memory=executor_memory,
        executor_cores=executor_cores,
        max_executors=max_executors,
        conf=conf,
        args=args,
    )
    if mode == "batch":
        body = run_date_shell(submit, grain, run_date)
    else:
        body = _ensure_running(job, submit, restart=restart)
    kwargs: dict[str, Any] = dict(operator_kwargs)
    if execution_timeout is not None:
        kwargs["execution_timeout"] = execution_timeout
    return BashOperator(
        task_id=task_id,
        bash_command="set -euo pipefail\n" + body,
        pool=pool or ("emr_streaming" if mode == "streaming" else "emr_batch"),
        doc_md=f"Spark {mode} job `{job}`",
        **kwargs,
    )
