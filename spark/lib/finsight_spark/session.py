"""SparkSession construction for local runs and for EMR.

Every job builds its session here so that the settings the transforms rely on (UTC session time zone,
string partition columns, dynamic partition overwrite) are the same on a laptop, in CI and on EMR::

    spark = build_session("payments_clean", master="local[2]")   # tests, laptops
    spark = build_session("payments_clean")                       # EMR: spark-submit supplies the master
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import SparkSession

# Settings every job depends on, wherever it runs.
COMMON_CONF: Mapping[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    # Partition values stay strings ("ds=2024-05-01"), so predicates compare like for like.
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # Decoding UDFs run row by row; they must not depend on pyarrow being installed on the executors.
    "spark.sql.execution.pythonUDF.arrow.enabled": "false",
    "spark.sql.streaming.stopGracefullyOnShutdown": "true",
}

# Local mode: deterministic, quiet and offline (no UI port, loopback only, few shuffle partitions).
LOCAL_CONF: Mapping[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
    "spark.sql.streaming.schemaInference": "false",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
}

# EMR: sized for the batch fleet; executor counts come from the cluster's dynamic allocation.
EMR_CONF: Mapping[str, str] = {
    "spark.sql.shuffle.partitions": "400",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.skewJoin.enabled": "true",
    "spark.dynamicAllocation.enabled": "true",
}


def is_local_master(master: str | None) -> bool:
    """True when the job runs in local mode (`local`, `local[2]`, `local[*]`)."""
    return master is not None and master.startswith("local")


def session_conf(master: str | None, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings a session gets for `master`, with `overrides` applied last."""
    conf = dict(COMMON_CONF)
    conf.update(LOCAL_CONF if is_local_master(master) else EMR_CONF)
    conf.update(overrides or {})
    return conf


def build_session(
    app_name: str,
    *,
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """Build (or reuse) the SparkSession of a job.

    `master=None` leaves the master to spark-submit (EMR on YARN). An existing session is reused,
    which is how the unit tests share one local session across every job.
    """
    builder = SparkSession.builder.appName(f"finsight-{app_name}")
    if master is not None:
        builder = builder.master(master)
    for key, value in session_conf(master, conf).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
