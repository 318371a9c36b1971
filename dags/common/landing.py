"""Files from partners: card schemes, acquirers, banks, vendors and public reference data.

Partner files arrive through the SFTP/AS2 gateway into `$FINSIGHT_LANDING_URI/<source>/ds=YYYY-MM-DD/`
(the gateway files each one under the date it was delivered, in UTC); public data is fetched over
HTTPS into the same layout, under the date it is fetched for. The gateway normalises delimited and
fixed-width files to JSON lines on arrival (keeping the file name), so every raw load reads one
semi-structured record per row or document (`$1`): JSON lines, XML documents or Parquet rows. Several
sources can share a raw table (the statements of two banks); each load replaces only its own source's
rows of the day. From there a COPY loads them into the warehouse's `raw` schema, replacing the day's rows:

    landing_sensor(task_id="wait_visa_ep", source="visa_base2", pattern="EP747*")
    http_fetch(task_id="fetch_ofac", source="ofac_sdn", url="https://...", filename="sdn_advanced.xml")
    copy_into_raw(task_id="load_visa", source="visa_base2", dataset="visa_clearing", file_format="fixed_width_tc")
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.sensors.python import PythonSensor

from common.partitions import DS, ds_offset
from common.sql import sql_task
from common.storage import env_location, matching_objects

HOUR_NUMBER = "{{ data_interval_start.hour }}"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FILENAME = re.compile(r"^[A-Za-z0-9_.{} ()%'|-]+$")


def _name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{what} names are snake case, got {value!r}")
    return value


def landing_folder(source: str, delivery_date: str = DS) -> str:
    """The folder (relative to the landing root) of `source`'s deliveries on `delivery_date` (a template)."""
    return f"{_name(source, 'source')}/ds={delivery_date}"


def files_landed(source: str, ds: str, pattern: str, min_files: int) -> bool:
    """Sensor callable: at least `min_files` files matching `pattern` have landed (runs on the worker)."""
    prefix = f"{env_location('FINSIGHT_LANDING_URI')}/{source}/ds={ds}"
    return len(matching_objects(prefix, pattern)) >= min_files


def landing_sensor(
    task_id: str,
    source: str,
    pattern: str,
    *,
    min_files: int = 1,
    offset_days: int = 0,
    delivery_date: str | None = None,
    poke_interval: timedelta = timedelta(minutes=10),
    timeout: timedelta = timedelta(hours=6),
    soft_fail: bool = False,
    **operator_kwargs: Any,
) -> PythonSensor:
    """Wait until `source` has delivered `min_files` files matching `pattern` on the run's date.

    `offset_days` looks at another delivery date (a partner that delivers a day's file two days later);
    `delivery_date` names it as a template derived from the run (a monthly run whose files arrive after
    its data interval).
    """
    _name(source, "source")
    if min_files < 1:
        raise ValueError("min_files is at least 1")
    if delivery_date is not None and offset_days:
        raise ValueError("give offset_days or delivery_date, not both")
    return PythonSensor(
        task_id=task_id,
        python_callable=files_landed,
        op_kwargs={
            "source": source,
            "ds": delivery_date or (DS if offset_days == 0 else ds_offset(offset_days)),
            "pattern": pattern,
            "min_files": min_files,
        },
        mode="reschedule",
        poke_interval=poke_interval,
        timeout=timeout,
        soft_fail=soft_fail,
        doc_md=f"Waits for `{pattern}` from `{source}`.",
        **operator_kwargs,
    )


def http_fetch(
    task_id: str,
    source: str,
    url: str,
    filename: str,
    *,
    keep_existing: bool = False,
    **operator_kwargs: Any,
) -> BashOperator:
    """Download `url` (templated with the run's date) into the source's landing folder as `filename`.

    `keep_existing=True` is for sources that only publish their current state (sanctions lists): the
    first successful fetch of a business date is kept, so re-running that date cannot replace it with
    a later publication.
    """
    _name(source, "source")
    if not url.startswith("https://"):
        raise ValueError("public data is fetched over https only")
    if not _FILENAME.match(filename) or "/" in filename:
        raise ValueError(f"not a plain file name: {filename!r}")
    target = f'"${{FINSIGHT_LANDING_URI:?}}/{landing_folder(source)}/{filename}"'
    command = "set -euo pipefail\n"
    if keep_existing:
        command += f'if aws s3 ls {target} >/dev/null 2>&1; then echo "kept {filename} of {DS}"; exit 0; fi\n'
    command += (
        f'curl --fail --silent --show-error --location --retry 3 --max-time 600 "{url}" \\\n'
        f"  | aws s3 cp - {target} --only-show-errors"
    )
    return BashOperator(
        task_id=task_id, bash_command=command, doc_md=f"Fetches `{filename}` for `{source}`.", **operator_kwargs
    )


def copy_into_raw(
    task_id: str,
    source: str,
    dataset: str,
    file_format: str,
    *,
    pattern: str = ".*",
    grain: str = "daily",
    delivery_date: str = DS,
    **operator_kwargs: Any,
) -> Any:
    """Replace `source`'s rows of the business date (or hour, for hourly loads) in `raw.<dataset>`.

    Rows keep the whole record (`record`), the source and file they came from and the business date
    (`load_ds`, plus `load_hour` for hourly loads); typing and parsing happen downstream, so a format
    change never loses a file.
    """
    _name(source, "source")
    _name(dataset, "dataset")
    _name(file_format, "file format")
    if grain not in ("daily", "hourly"):
        raise ValueError(f"raw loads are daily or hourly, got {grain!r}")
    if grain == "hourly" and delivery_date != DS:
        raise ValueError("hourly loads read the run's own delivery date")
    table = f"raw.{dataset}"
    scope = f"source = '{source}' AND load_ds = '{delivery_date}'"
    columns = "record, source, source_file, load_ds"
    values = f"$1, '{source}', METADATA$FILENAME, '{delivery_date}'::date"
    if grain == "hourly":
        scope += f" AND load_hour = {HOUR_NUMBER}"
        columns += ", load_hour"
        values += f", {HOUR_NUMBER}"
    return sql_task(
        task_id,
        [
            f"DELETE FROM {table} WHERE {scope}",
            f"COPY INTO {table} ({columns})\n"
            f"FROM (SELECT {values} FROM @raw.landing/{landing_folder(source, delivery_date)}/)\n"
            f"FILE_FORMAT = (FORMAT_NAME = 'raw.{file_format}')\n"
            f"PATTERN = '{pattern}'\nFORCE = TRUE",
        ],
        **operator_kwargs,
    )
