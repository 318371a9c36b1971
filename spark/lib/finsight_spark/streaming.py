"""Running Structured Streaming jobs: topic source from the command line, parquet sink with a checkpoint.

The sink is Spark's file sink: with the checkpoint it writes every micro-batch exactly once, and the
batch jobs downstream read the table through its commit log::

    query = start_table_sink(events, base_path, "lake.payments_raw", checkpoint=ckpt, available_now=True)
    query.awaitTermination()
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql.streaming import StreamingQuery

from finsight_spark.io import PARTITION_COLUMN, table_id, table_path
from finsight_spark.schemas import enforce_contract
from finsight_spark.tables import partitioned, schema_of


def start_table_sink(
    frame: DataFrame,
    base_path: str,
    table: str,
    *,
    checkpoint: str,
    available_now: bool = False,
    trigger_interval: str = "1 minute",
) -> StreamingQuery:
    """Append `frame` to lake table `table`, partitioned by `ds`, tracking progress in `checkpoint`.

    `frame` must have exactly the table's contract columns plus `ds` (`SchemaError` otherwise, before
    the query starts).
    """
    checked = enforce_contract(frame, partitioned(schema_of(table)), table=table)
    writer = (
        checked.writeStream.format("parquet")
        .queryName(f"{table_id(table)}_sink")
        .outputMode("append")
        .partitionBy(PARTITION_COLUMN)
        .option("path", table_path(base_path, table))
        .option("checkpointLocation", checkpoint)
    )
    writer = writer.trigger(availableNow=True) if available_now else writer.trigger(processingTime=trigger_interval)
    return writer.start()
