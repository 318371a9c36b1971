"""topic_sensor: wait until a Kafka topic has caught up past a run's data interval.

    topic_sensor(task_id="wait_for_transfers", topic="transfers.events.v1")
    topic_sensor(task_id="wait_for_fx", topic="fx.rates.v1", grace=timedelta(minutes=30))

`topic` is the name of a folder under kafka/topics/; the DAG rule of graphbuild reads it as the edge to
that topic. The sensor succeeds once every partition of the topic (or `min_partition_ratio` of them,
for topics with idle partitions) holds a record timestamped at or after the end of the run's data
interval plus `grace`: from then on, the events of the interval are in the topic and a batch job can
read them. It runs in reschedule mode, so waiting holds no worker slot.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.standard.sensors.python import PythonSensor

from common.partitions import INTERVAL_END

_TOPIC = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.v[0-9]+$")


def check_topic(topic: str) -> str:
    """Return `topic`, or raise ValueError when it does not follow `<domain>.<entity>.v<N>`."""
    if not _TOPIC.match(topic):
        raise ValueError(f"topic names look like 'payments.transactions.v1', got {topic!r}")
    return topic


def partitions_caught_up(offsets_at_mark: Mapping[int, int | None], min_partition_ratio: float) -> bool:
    """True when enough partitions have a record at or after the mark.

    `offsets_at_mark` maps a partition to the offset of its first record at or after the mark, or None
    when the partition has no such record yet (what KafkaConsumer.offsets_for_times returns).
    """
    if not offsets_at_mark:
        return False
    caught_up = sum(1 for offset in offsets_at_mark.values() if offset is not None)
    return caught_up / len(offsets_at_mark) >= min_partition_ratio


def topic_has_passed(topic: str, interval_end: str, grace_seconds: int, min_partition_ratio: float) -> bool:
    """Sensor callable: has `topic` caught up past `interval_end` + grace? (runs on the worker)."""
    from kafka import KafkaConsumer, TopicPartition  # kafka-python, imported at run time only

    mark = datetime.fromisoformat(interval_end) + timedelta(seconds=grace_seconds)
    consumer = KafkaConsumer(
        bootstrap_servers=os.environ["FINSIGHT_KAFKA_BOOTSTRAP"].split(","),
        security_protocol=os.environ.get("FINSIGHT_KAFKA_SECURITY_PROTOCOL", "SSL"),
        enable_auto_commit=False,
        client_id="airflow-topic-sensor",
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise RuntimeError(f"topic {topic} does not exist on the cluster")
        mark_ms = int(mark.timestamp() * 1000)
        found = consumer.offsets_for_times({TopicPartition(topic, p): mark_ms for p in partitions})
        offsets = {tp.partition: (hit.offset if hit is not None else None) for tp, hit in found.items()}
        return partitions_caught_up(offsets, min_partition_ratio)
    finally:
        consumer.close()


def topic_sensor(
    task_id: str,
    topic: str,
    *,
    grace: timedelta = timedelta(minutes=5),
    min_partition_ratio: float = 1.0,
    poke_interval: timedelta = timedelta(minutes=3),
    timeout: timedelta = timedelta(hours=3),
    soft_fail: bool = False,
    **operator_kwargs: Any,
) -> PythonSensor:
    """A sensor on `topic` for the run's data interval."""
    check_topic(topic)
    if not 0 < min_partition_ratio <= 1:
        raise ValueError("min_partition_ratio is in (0, 1]")
    return PythonSensor(
        task_id=task_id,
        python_callable=topic_has_passed,
        op_kwargs={
            "topic": topic,
            "interval_end": INTERVAL_END,
            "grace_seconds": int(grace.total_seconds()),
            "min_partition_ratio": min_partition_ratio,
        },
        mode="reschedule",
        poke_interval=poke_interval,
        timeout=timeout,
        soft_fail=soft_fail,
        doc_md=f"Waits until topic `{topic}` has records past the data interval (+{grace}).",
        **operator_kwargs,
    )
