"""dbt_task: run a literal selection of dbt models for a run's partition.

    dbt_task(task_id="build_payments_marts", select="int_payments_enriched fct_payments")
    dbt_task(task_id="test_marts", select="fct_payments fct_transfers", command="test")
    dbt_task(task_id="rebuild_dims", select="dim_accounts dim_merchants", full_refresh=True)

`select` names dbt models, space separated, with no graph operators: the DAG rule of graphbuild reads it
as the list of models this task runs, and a model that is not named is not run by this task. The task
runs in the dbt project checked out on the worker (`$DBT_PROJECT_DIR`, whose profiles.yml is used
unless `$DBT_PROFILES_DIR` says otherwise) against the environment's target (`$DBT_TARGET`: dev on
DuckDB, staging and prod on Snowflake), and hands the partition to the
models as `--vars` (`run_date`, plus the hour window or the month for hourly and monthly runs), so
incremental models rebuild exactly that partition.

A successful build leaves a marker per model and run date under `$FINSIGHT_ARTIFACTS_URI/dbt_markers/`,
which `model_sensor(task_id=..., model="dim_customers")` waits for in the DAGs that read the model.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.sensors.python import PythonSensor

from common.partitions import DS, check_grain, ds_offset, interval_vars, run_date_shell
from common.storage import env_location, object_exists

COMMANDS = ("build", "run", "test")
_MODEL = re.compile(r"^[a-z][a-z0-9_]*$")


def model_names(select: str) -> list[str]:
    """The model names in `select`; raise ValueError for graph operators, paths or an empty selection."""
    names = select.split()
    if not names:
        raise ValueError("dbt_task needs at least one model in select")
    for name in names:
        if not _MODEL.match(name):
            raise ValueError(f"dbt_task select takes model names only (no +, @, tag: or paths), got {name!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"dbt_task select names a model twice: {select!r}")
    return names


def _vars_argument(grain: str, extra: dict[str, Any]) -> str:
    # run_date comes from the shell ("$RUN_DATE"), the rest are Jinja templates or literals.
    variables = {"run_date": "__RUN_DATE__", **interval_vars(grain), **extra}
    encoded = json.dumps(variables, sort_keys=True).replace('"', '\\"')
    return '"' + encoded.replace("__RUN_DATE__", "$RUN_DATE") + '"'


def marker_uri(artifacts_root: str, model: str, run_date: str) -> str:
    """Where a successful build of `model` for `run_date` leaves its marker."""
    return f"{artifacts_root}/dbt_markers/{model}/run_date={run_date}/_SUCCESS"


def _marker_command(model: str) -> str:
    target = marker_uri("${FINSIGHT_ARTIFACTS_URI:?}", model, "$RUN_DATE")
    return f'printf "%s" "{{{{ run_id }}}}" | aws s3 cp - "{target}" --only-show-errors'


def model_built(model: str, run_date: str) -> bool:
    """Sensor callable: has `model` been built for `run_date`? (runs on the worker)."""
    return object_exists(marker_uri(env_location("FINSIGHT_ARTIFACTS_URI"), model, run_date))


def dbt_command(
    select: str,
    *,
    command: str = "build",
    grain: str = "daily",
    run_date: str | None = None,
    exclude: str | None = None,
    full_refresh: bool = False,
    threads: int | None = None,
    fail_fast: bool = True,
    extra_vars: dict[str, Any] | None = None,
) -> str:
    """The shell command of a dbt_task (a Jinja template rendered when the task runs)."""
    if command not in COMMANDS:
        raise ValueError(f"dbt command must be one of {COMMANDS}, got {command!r}")
    if full_refresh and command == "test":
        raise ValueError("full_refresh has no meaning for dbt test")
    check_grain(grain)
    parts = [
        "dbt",
        command,
        '--profiles-dir "${DBT_PROFILES_DIR:-.}"',
        '--target "${DBT_TARGET:?}"',
        "--select",
        " ".join(model_names(select)),
        "--vars",
        _vars_argument(grain, extra_vars or {}),
    ]
    if exclude:
        parts += ["--exclude", " ".join(model_names(exclude))]
    if full_refresh:
        parts.append("--full-refresh")
    if threads is not None:
        parts += ["--threads", str(int(threads))]
    if fail_fast:
        parts.append("--fail-fast")
    body = " ".join(parts)
    if command != "test" and grain != "hourly":  # a marker stands for a whole day
        body += "\n" + "\n".join(_marker_command(name) for name in model_names(select))
    return 'set -euo pipefail\ncd "${DBT_PROJECT_DIR:?}"\n' + run_date_shell(body, grain, run_date)


def dbt_task(
    task_id: str,
    select: str,
    *,
    command: str = "build",
    grain: str = "daily",
    run_date: str | None = None,
    exclude: str | None = None,
    full_refresh: bool = False,
    threads: int | None = None,
    fail_fast: bool = True,
    extra_vars: dict[str, Any] | None = None,
    pool: str = "dbt_warehouse",
    execution_timeout: timedelta | None = None,
    **operator_kwargs: Any,
) -> BashOperator:
    """A task that runs `dbt <command>` on the models named in `select` for the run's partition."""
    kwargs: dict[str, Any] = dict(operator_kwargs)
    if execution_timeout is not None:
        kwargs["execution_timeout"] = execution_timeout
    return BashOperator(
        task_id=task_id,
        bash_command=dbt_command(
            select,
            command=command,
            grain=grain,
            run_date=run_date,
            exclude=exclude,
            full_refresh=full_refresh,
            threads=threads,
            fail_fast=fail_fast,
            extra_vars=extra_vars,
        ),
        env={
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_INVOCATION_LABEL": "{{ dag.dag_id }}.{{ task.task_id }}.{{ run_id }}",
        },
        append_env=True,
        pool=pool,
        doc_md=f"`dbt {command}` of: {' '.join(select.split())}",
        **kwargs,
    )


def model_sensor(
    task_id: str,
    model: str,
    *,
    offset_days: int = 0,
    run_date: str | None = None,
    poke_interval: timedelta = timedelta(minutes=5),
    timeout: timedelta = timedelta(hours=4),
    **operator_kwargs: Any,
) -> PythonSensor:
    """Wait until dbt model `model` has been built for the run's date (by whichever DAG builds it).

    A successful `dbt build`/`dbt run` of a dbt_task leaves one marker per selected model and run date;
    this sensor waits for it, so a DAG that reads a mart does not depend on the schedule of the DAG
    that builds it. `offset_days` waits for another day's build, `run_date` for the day a template
    derived from the run names (the last day of a monthly run's month).
    """
    (name,) = model_names(model)
    if run_date is not None and offset_days:
        raise ValueError("give offset_days or run_date, not both")
    return PythonSensor(
        task_id=task_id,
        python_callable=model_built,
        op_kwargs={"model": name, "run_date": run_date or (DS if offset_days == 0 else ds_offset(offset_days))},
        mode="reschedule",
        poke_interval=poke_interval,
        timeout=timeout,
        doc_md=f"Waits until dbt model `{name}` has been built for the run's date.",
        **operator_kwargs,
    )
