"""Checkpoint compatibility of streaming changes: the classifier's invariants, the plan's notes and a real query."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphbuild.errors import DeployError
from rules.deploy.streaming_compat import (
    STATEFUL, QueryShape, classify, committed_offsets, hand_over, plan_note, query_shape, stream_request,
)
from tests.rules.deploy.steps import platform as shared_platform

STREAMING = "//spark/jobs/payments_stream_ingest:payments_stream_ingest"

_names = st.sampled_from(["id", "k", "event_id", "account_id", "ts"])
_operator = st.tuples(st.sampled_from(sorted(STATEFUL)), st.lists(_names, max_size=3).map(repr))
_shapes = st.builds(
    QueryShape,
    sources=st.lists(st.sampled_from(["topic:a", "topic:b", "table:lake.c"]), min_size=1, max_size=2, unique=True).map(
        lambda x: tuple(sorted(x))),
    sinks=st.lists(st.sampled_from(["table:lake.x", "table:lake.y", "topic:out"]), min_size=1, max_size=1).map(tuple),
    operators=st.lists(_operator, max_size=3).map(tuple),
    state_version=st.none() | st.integers(0, 3),
)


@given(_shapes, _shapes)
def test_the_classifier_is_deterministic_and_symmetric_in_what_it_reuses(old: QueryShape, new: QueryShape) -> None:
    verdict = classify(old, new)
    assert verdict == classify(old, new) and verdict.reasons
    back = classify(new, old)
    if old.sinks == new.sinks:  # only a sink's direction (Kafka -> file) is one-way
        assert verdict.action == back.action
    assert (verdict.action == "refuse") == (set(old.sources) != set(new.sources))
    if verdict.action == "restart":
        assert old.state_digest == new.state_digest


@given(_shapes, _operator, st.data())
def test_every_stateful_change_is_incompatible(shape: QueryShape, operator: tuple[str, str], data: Any) -> None:
    """Adding, removing or changing a stateful operator, or bumping STATE_VERSION, never restarts."""
    changed = [
        QueryShape(shape.sources, shape.sinks, (*shape.operators, operator), shape.state_version),
        QueryShape(shape.sources, shape.sinks, shape.operators, (shape.state_version or 0) + 1),
    ]
    if shape.operators:
        i = data.draw(st.integers(0, len(shape.operators) - 1))
        name, arguments = shape.operators[i]
        changed.append(QueryShape(shape.sources, shape.sinks, shape.operators[:i] + shape.operators[i + 1:], shape.state_version))
        changed.append(QueryShape(shape.sources, shape.sinks,
                                  (*shape.operators[:i], (name, arguments + ", 'x'"), *shape.operators[i + 1:]), shape.state_version))
    for new in changed:
        verdict = classify(shape, new)
        assert verdict.action == "blue-green", (new, verdict)
        assert new.state_digest != shape.state_digest


@given(st.sampled_from(["id", "k"]), st.sampled_from(["'10 seconds'", "'2 hours'"]))
def test_the_shape_comes_from_the_code_not_its_comments(key: str, delay: str) -> None:
    code = f"""
WATERMARK = {delay}
def transform(frame):
    # a comment
    frame = frame.where(frame.k > 0).select("id", "k", "ts")
    if frame.isStreaming:
        return frame.withWatermark("ts", WATERMARK).dropDuplicatesWithinWatermark(["{key}"])
    return frame.dropDuplicates(["{key}"])
"""
    shape = query_shape(["topic:a"], ["table:lake.x"], {"t.py": code})
    assert shape.operators == (("withWatermark", f"'ts', {delay}"), ("dropDuplicatesWithinWatermark", f"['{key}']"))
    edited = code.replace("frame.k > 0", "frame.k > 1").replace("# a comment", "")
    assert classify(shape, query_shape(["topic:a"], ["table:lake.x"], {"t.py": edited})).action == "restart"
    grouped = code.replace('.select("id", "k", "ts")', '.groupBy("k").count()')
    assert classify(shape, query_shape(["topic:a"], ["table:lake.x"], {"t.py": grouped})).action == "blue-green"
    declared = code + "\nSTATE_VERSION = 2\n"
    assert classify(shape, query_shape(["topic:a"], ["table:lake.x"], {"t.py": declared})).action == "blue-green"


def test_the_plan_says_restart_blue_green_or_refuses() -> None:
    session, head = shared_platform()
    target = head.graph.targets[next(label for label in head.graph.targets if str(label) == STREAMING)]
    request, note = stream_request(target, head, head)
    assert note.startswith("checkpoint-compatible: restart from checkpoints/payments_stream_ingest/")
    assert request["checkpoint"].startswith("checkpoints/payments_stream_ingest/") and request["handover"] == "restart"
    _, first = stream_request(target, head, None)
    assert first.startswith("no running version to compare: starts on checkpoints/payments_stream_ingest/")
    assert plan_note(classify(QueryShape(("topic:a",), ("table:lake.x",), ()),
                              QueryShape(("topic:a",), ("table:lake.x",), (("groupBy", "'k'"),))),
                     "checkpoints/j/new", "checkpoints/j/old").startswith(
        "incompatible: blue/green from offsets committed in checkpoints/j/old into checkpoints/j/new")

    class _Moved:  # the same job reading another topic: the running version's offsets are meaningless
        label, sources = target.label, target.sources
        attributes = {**target.attributes, "reads": ("topic:payments.transactions.v2",)}

    class _Base:
        graph = type("G", (), {"targets": {target.label: _Moved()}})()
        snapshot = head.snapshot

    with pytest.raises(DeployError, match="streaming change refused: sources changed"):
        stream_request(target, head, _Base())

    class _Edited:  # the running version deduplicated over a shorter watermark: its state cannot be reused
        def read(self, path: str) -> bytes:
            data = head.snapshot.read(path)
            return data.replace(b'DEDUP_WATERMARK = "2 hours"', b'DEDUP_WATERMARK = "1 hour"')

    class _Older:
        graph = head.graph
        snapshot = _Edited()

    assert b'DEDUP_WATERMARK = "2 hours"' in head.snapshot.read("spark/jobs/payments_stream_ingest/transforms.py")
    moved, note = stream_request(target, head, _Older())
    assert note.startswith("incompatible: blue/green from offsets committed in checkpoints/payments_stream_ingest/")
    assert "withWatermark" in note and moved["checkpoint"] == request["checkpoint"] and moved["handover"] == "blue-green"


def _committed_checkpoint(folder: Path, batches: int, rows_per_batch: int) -> None:
    """A checkpoint's offsets and commits logs in Spark's layout (as the real-query test below reads them)."""
    for n in range(batches):
        (folder / "offsets").mkdir(parents=True, exist_ok=True)
        (folder / "commits").mkdir(parents=True, exist_ok=True)
        (folder / "offsets" / str(n)).write_text(
            'v1\n{"batchWatermarkMs":0,"batchTimestampMs":0,"conf":{}}\n' + json.dumps({"offset": (n + 1) * rows_per_batch}))
        (folder / "commits" / str(n)).write_text('v1\n{"nextBatchWatermarkMs":0}')
    (folder / "offsets" / str(batches)).write_text('v1\n{}\n{"offset": 999999}')  # planned, never committed


def test_the_local_start_step_moves_a_stream_to_a_new_checkpoint_from_committed_offsets(tmp_path: Path) -> None:
    """A new state shape: the start step seeds the new checkpoint; a rollback never resumes a stale one."""
    from dataclasses import replace

    from graphbuild.values import freeze
    from tests.rules.deploy.steps import REPO_ROOT, Store, bind, deploy_context, plan_context, run, steps_of

    session, head = shared_platform()
    specs = steps_of(session, STREAMING, plan_context(head))
    job = "payments_stream_ingest"
    store = Store()
    ctx = deploy_context(tmp_path, store)
    record = tmp_path / "streams" / f"{job}.json"
    for fingerprint, checkpoint in (("v1", "checkpoints/j/one"), ("v2", "checkpoints/j/two"), ("v1", "checkpoints/j/one")):
        request = freeze({"job": job, "checkpoint": checkpoint, "handover": "blue-green"})
        for spec in specs:
            step = bind(replace(spec, request=request) if spec.name != "publish" else spec, STREAMING, fingerprint,
                        REPO_ROOT, store, overrides={"spark/jobs/payments_stream_ingest/main.py": fingerprint.encode() * 3}
                        if fingerprint == "v2" and spec.name == "publish" else None)
            run(step, ctx)
        state = json.loads(record.read_text())
        assert state["state"] == "running" and state["checkpoint"] == checkpoint
        if checkpoint == "checkpoints/j/one" and "seeded_from" not in state:
            _committed_checkpoint(tmp_path / checkpoint, batches=3, rows_per_batch=10)
        elif checkpoint == "checkpoints/j/two":
            assert state["seeded_from"] == "checkpoints/j/one"
            assert state["seeded_batch"] == 2 and state["starting_offsets"] == [{"offset": 30}]
            _committed_checkpoint(tmp_path / checkpoint, batches=2, rows_per_batch=40)
    assert state["seeded_from"] == "checkpoints/j/two" and state["starting_offsets"] == [{"offset": 80}]
    assert (tmp_path / "checkpoints/j/one.stale-1" / "commits" / "2").exists()  # the stale generation, moved aside
    assert not (tmp_path / "checkpoints/j/one" / "commits").exists()


# --------------------------------------------------------------------------------------------------
# A real query on pyspark local mode


@pytest.fixture(scope="module")
def spark() -> Any:
    pytest.importorskip("pyspark")
    from rules.deploy.streaming_run import session

    spark = session()
    yield spark
    spark.stop()


def _ids(spark: Any, *sinks: Path) -> list[int]:
    return sorted(r.id for sink in sinks for r in spark.read.parquet(str(sink)).select("id").collect())


def _end(checkpoint: Path) -> int:
    committed = committed_offsets(checkpoint)
    assert committed is not None
    return committed.offsets[0]["offset"]


def test_a_real_query_restarts_exactly_once_and_blue_green_loses_no_row(spark: Any, tmp_path: Path) -> None:
    """v1 -> v2 (compatible, same checkpoint) -> v2 stateful (blue/green from committed offsets): every id once."""
    from rules.deploy.streaming_run import start_version, stop_after_batch, wait_for_batches

    epoch = time.time()
    old, sink = tmp_path / "checkpoints/job/a", tmp_path / "out/a"
    query = start_version(spark, "v1", old, sink, epoch=epoch, rows_per_second=50)
    wait_for_batches(query, 2)
    stop_after_batch(query)
    first_end = _end(old)
    query = start_version(spark, "v2-compatible", old, sink, epoch=epoch, rows_per_second=50)
    wait_for_batches(query, 2)
    stop_after_batch(query)
    second_end = _end(old)
    assert second_end > first_end
    assert _ids(spark, sink) == list(range(second_end))  # resumed at first_end: nothing lost, nothing twice

    seeded = hand_over(tmp_path, "checkpoints/job/a", "checkpoints/job/b")
    assert seeded["starting_offsets"] == [{"offset": second_end}]
    query = start_version(spark, "v2-incompatible", tmp_path / "checkpoints/job/b", tmp_path / "out/b", epoch=epoch,
                          rows_per_second=50, starting_offsets=json.dumps(seeded["starting_offsets"][0]))
    wait_for_batches(query, 2)
    stop_after_batch(query)
    assert _ids(spark, sink, tmp_path / "out/b") == list(range(_end(tmp_path / "checkpoints/job/b")))
