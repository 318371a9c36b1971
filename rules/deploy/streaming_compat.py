"""Checkpoint compatibility of a Structured Streaming job between two versions.

Spark's "Recovery Semantics after Changes in a Streaming Query" (Structured Streaming programming
guide) is the model: a restarted query may change its filters, projections and sink options, but not
the number or kind of its sources, nor its stateful operations (aggregation keys and aggregates,
deduplication columns, stream-stream joins, ``*GroupsWithState``, watermarks): their state in the
checkpoint was written for the old plan. So a change is one of:

- ``restart``: the new version resumes from the old checkpoint (stop after the running batch, start);
- ``blue-green``: the state cannot be reused; the new version runs on a new checkpoint whose sources
  start at the old query's last committed offsets (``committed_offsets``), so no row is lost or read twice;
- ``refuse``: the old offsets do not describe the new sources (a source added, removed or renamed);
  deploy the change as a new job and retire the old one.

A job's query shape (``query_shape``) is read from its code, never executed: the ``reads`` and
``writes`` of its BUILD target (its sources and sinks) and, from the AST of its Python files outside
``tests/``, every stateful call with its arguments (module-level constants substituted; the ``else``
branch of ``if frame.isStreaming:`` is batch code and skipped). A stateful change the AST cannot see
(a library helper's behaviour, a state store setting) is declared in the job's code with a literal
module-level ``STATE_VERSION = <int>``: bumping it makes the change incompatible::

    >>> old = QueryShape(sources=("topic:t",), sinks=("table:lake.x",), operators=())
    >>> new = QueryShape(sources=("topic:t",), sinks=("table:lake.x",), operators=(("dropDuplicates", "['id']"),))
    >>> classify(old, new).action
    'blue-green'
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from graphbuild.values import hash_text

__all__ = ["STATEFUL", "Committed", "QueryShape", "Verdict", "checkpoint_of", "classify", "committed_offsets",
           "hand_over", "plan_note", "query_shape", "shape_of_target", "stream_request"]

# Calls whose effect lives in the state store (or, for withWatermark, in the offset log's metadata).
STATEFUL = frozenset({
    "groupBy", "groupby", "agg", "count", "dropDuplicates", "drop_duplicates", "dropDuplicatesWithinWatermark",
    "distinct", "withWatermark", "window", "session_window", "join", "flatMapGroupsWithState", "mapGroupsWithState",
    "applyInPandasWithState", "transformWithState", "transformWithStateInPandas", "limit",
})
STATE_VERSION = "STATE_VERSION"
Action = Literal["start", "restart", "blue-green", "refuse"]


@dataclass(frozen=True, slots=True)
class QueryShape:
    """What a checkpoint depends on: sources, sinks and the stateful operators in order (name, arguments)."""

    sources: tuple[str, ...]
    sinks: tuple[str, ...]
    operators: tuple[tuple[str, str], ...]
    state_version: int | None = None

    @property
    def state_digest(self) -> str:
        """Identifies the checkpoint's state: equal for versions that may share one checkpoint."""
        return hash_text(json.dumps([self.sources, self.operators, self.state_version]))[:12]


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    reasons: tuple[str, ...]

    @property
    def is_compatible(self) -> bool:
        return self.action in ("start", "restart")


def classify(old: QueryShape | None, new: QueryShape) -> Verdict:
    """The deploy of ``new`` over a running ``old`` (None: a first start); deterministic, pure."""
    if old is None:
        return Verdict("start", ("first start: a new checkpoint",))
    if set(old.sources) != set(new.sources):
        added, removed = sorted(set(new.sources) - set(old.sources)), sorted(set(old.sources) - set(new.sources))
        return Verdict("refuse", (f"sources changed (added {added or 'none'}, removed {removed or 'none'}): "
                                  "the old offsets do not describe the new sources",))
    reasons = list(_state_changes(old, new))
    sink = _sink_change(old.sinks, new.sinks)
    if sink is not None and sink[1]:
        reasons.append(sink[0])
    if reasons:
        return Verdict("blue-green", tuple(reasons))
    return Verdict("restart", (sink[0],) if sink else ("no stateful change: filters, projections or sink options only",))


def _state_changes(old: QueryShape, new: QueryShape) -> Iterable[str]:
    if old.state_version != new.state_version:
        yield f"{STATE_VERSION} {old.state_version} -> {new.state_version}"
    if old.operators == new.operators:
        return
    before, after = [o[0] for o in old.operators], [o[0] for o in new.operators]
    for name in sorted(set(after) - set(before)):
        yield f"stateful operator added: {name}"
    for name in sorted(set(before) - set(after)):
        yield f"stateful operator removed: {name}"
    if sorted(before) == sorted(after):
        changed = sorted({n for n, a in new.operators if (n, a) not in old.operators}
                         | {n for n, a in old.operators if (n, a) not in new.operators})
        yield ("stateful operator changed (keys, aggregates or watermark): " + ", ".join(changed)) if changed \
            else "stateful operators reordered"
    elif set(before) == set(after):
        yield "stateful operators added or removed: " + ", ".join(sorted(set(before)))


def _sink_change(old: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, bool] | None:
    """(reason, needs a new checkpoint) of a sink change, None when unchanged.

    The guide allows a file sink to another directory and any sink to Kafka (Kafka sees only new data);
    a Kafka sink to a file sink is not allowed.
    """
    if set(old) == set(new):
        return None
    if "topic" in _kinds(old) and "table" in _kinds(new) - _kinds(old):
        return f"sink changed from {sorted(old)} to {sorted(new)}: a Kafka sink cannot become a file sink", True
    return f"sink changed from {sorted(old)} to {sorted(new)}: the new sink sees only new data", False


def _kinds(sinks: tuple[str, ...]) -> set[str]:
    return {sink.split(":", 1)[0] for sink in sinks}


# --------------------------------------------------------------------------------------------------
# Reading a job's shape from its code


def query_shape(reads: Iterable[str], writes: Iterable[str], files: Mapping[str, str]) -> QueryShape:
    """The shape of a job from its BUILD ``reads``/``writes`` and its Python files (path -> text)."""
    operators: list[tuple[str, str]] = []
    version: int | None = None
    for path in sorted(files):
        tree = ast.parse(files[path], filename=path)
        constants = _constants(tree)
        if isinstance(constants.get(STATE_VERSION), int):
            version = constants[STATE_VERSION]
        operators += _operators(tree, constants)
    return QueryShape(tuple(sorted(set(reads))), tuple(sorted(set(writes))), tuple(operators), version)


def _constants(tree: ast.Module) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return found


class _Substitute(ast.NodeTransformer):
    def __init__(self, constants: Mapping[str, Any]) -> None:
        self.constants = constants

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.constants:
            return ast.Constant(self.constants[node.id])
        return node


def _operators(tree: ast.Module, constants: Mapping[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    substitute = _Substitute(constants)

    def visit_block(statements: list[ast.stmt]) -> None:
        for statement in statements:
            visit(statement)
            if isinstance(statement, ast.If) and _streaming_test(statement.test) and not statement.orelse \
                    and statement.body and isinstance(statement.body[-1], ast.Return):
                return  # `if x.isStreaming: return ...`: what follows is the batch path

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _streaming_test(node.test) is not None:
            visit_block(node.body if _streaming_test(node.test) else node.orelse)
            return
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef)):
            visit_block(node.body)
            return
        if isinstance(node, ast.Call):
            for child in ast.iter_child_nodes(node):  # inner calls first: the chain's order
                visit(child)
            if isinstance(node.func, ast.Attribute) and node.func.attr in STATEFUL:
                arguments = [*node.args, *(k.value for k in node.keywords)]
                text = ", ".join(ast.unparse(substitute.visit(_copy(a))) for a in arguments)
                found.append((node.func.attr, text))
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _copy(node: ast.AST) -> ast.AST:
    return ast.parse(ast.unparse(node), mode="eval").body


def _streaming_test(test: ast.expr) -> bool | None:
    """True for ``x.isStreaming``, False for ``not x.isStreaming``, None for any other condition."""
    if isinstance(test, ast.Attribute) and test.attr == "isStreaming":
        return True
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and _streaming_test(test.operand) is True:
        return False
    return None


def shape_of_target(target: Any, read: Callable[[str], str | None], tests: str = "tests") -> QueryShape | None:
    """A ``spark_job`` target's shape; ``read(path)`` gives a file's text at the target's revision (None: unknown)."""
    folder = target.label.package
    files = {}
    for path in target.sources:
        if path.endswith(".py") and path.startswith(folder + "/") and not path.startswith(f"{folder}/{tests}/"):
            text = read(path)
            if text is None:
                return None
            files[path] = text
    attributes = target.attributes
    return query_shape(attributes["reads"], attributes["writes"], files)


def checkpoint_of(job: str, shape: QueryShape) -> str:
    """The checkpoint folder of a job's state generation: versions with the same state share it."""
    return f"checkpoints/{job}/{shape.state_digest}"


def plan_note(verdict: Verdict, checkpoint: str, previous: str | None) -> str:
    """The line the plan shows for a streaming job's start."""
    why = "; ".join(verdict.reasons)
    match verdict.action:
        case "start":  # no base revision: a first deploy, or a base that cannot be read (a dirty commit)
            return (f"no running version to compare: starts on {checkpoint} (a stream running on another "
                    "checkpoint hands over from its committed offsets)")
        case "restart":
            return f"checkpoint-compatible: restart from {checkpoint} ({why})"
        case "blue-green":
            return (f"incompatible: blue/green from offsets committed in {previous} into {checkpoint} ({why}); "
                    "the new query's sink must be a new folder or batch-id independent")
        case "refuse":
            return f"refused: {why}"


# --------------------------------------------------------------------------------------------------
# A checkpoint's committed offsets


@dataclass(frozen=True, slots=True)
class Committed:
    """The last batch the old query committed, and its end offset per source (parsed JSON, in source order)."""

    batch_id: int
    offsets: tuple[Any, ...]

    def starting_offsets(self, source: int = 0) -> str:
        """The source's ``startingOffsets`` option for a new query: Kafka's JSON form, as the checkpoint holds it."""
        return json.dumps(self.offsets[source], sort_keys=True, separators=(",", ":"))


def committed_offsets(checkpoint: Path) -> Committed | None:
    """The end offsets of the last committed batch of ``checkpoint`` (``commits/<n>`` and ``offsets/<n>``).

    None when no batch was committed (the new query then starts where a new query starts).
    """
    commits = [int(p.name) for p in (checkpoint / "commits").glob("*") if p.name.isdigit()]
    if not commits:
        return None
    batch = max(commits)
    lines = (checkpoint / "offsets" / str(batch)).read_text(encoding="utf-8").splitlines()
    # offsets/<n>: "v1", the batch's metadata (watermark, conf), then one offset per source ("-": none yet)
    return Committed(batch, tuple(None if line.strip() == "-" else json.loads(line) for line in lines[2:]))


# --------------------------------------------------------------------------------------------------
# The plan side (rules.deploy.spark_local) and the handler side (its ``start``)


def stream_request(target: Any, head: Any, base: Any | None) -> tuple[dict[str, Any], str]:
    """The stream request of a streaming job's stop/start steps and the plan's note on the handover.

    Raises ``DeployError`` (at plan time, before anything runs) when the change is refused.
    """
    from graphbuild.errors import DeployError

    job = target.label.name
    new = shape_of_target(target, _reader(head))
    if new is None:
        raise DeployError(f"{job}: cannot read the job's code to classify its streaming change",
                          file=f"{target.label.package}/BUILD", fix="plan from a workspace that has the job's files")
    old_target = base.graph.targets.get(target.label) if base is not None else None
    old = shape_of_target(old_target, _reader(base)) if old_target is not None else None
    if old_target is not None and old is None:  # the running version's code is unknown: never reuse its state
        verdict = Verdict("blue-green", ("the running version's code cannot be read",))
    else:
        verdict = classify(old, new)
    checkpoint = checkpoint_of(job, new)
    previous = checkpoint_of(job, old) if old is not None else "the running checkpoint"
    if verdict.action == "refuse":
        raise DeployError(f"{job}: streaming change refused: {'; '.join(verdict.reasons)}",
                          file=f"{target.label.package}/BUILD",
                          fix="deploy the new query as a new spark_job (its own name and checkpoint) and retire this one")
    request = {"job": job, "checkpoint": checkpoint, "handover": verdict.action}
    return request, plan_note(verdict, checkpoint, previous)


def _reader(revision: Any) -> Callable[[str], str | None]:
    from graphbuild.errors import GraphbuildError

    snapshot = getattr(revision, "snapshot", None)

    def read(path: str) -> str | None:
        if snapshot is None:
            return None
        try:
            return snapshot.read(path).decode("utf-8")
        except (OSError, UnicodeDecodeError, GraphbuildError):
            return None

    return read


def hand_over(backend_dir: Path, running: str, checkpoint: str) -> dict[str, Any]:
    """Move a stream from the checkpoint it ran on to a new one, seeded from the old one's committed offsets.

    A folder already at ``checkpoint`` is an older generation (a rollback to a state shape that ran
    before): its offsets are stale, so it is moved aside, never resumed. Returns the stream record's
    new fields.
    """
    target = backend_dir / checkpoint
    if target.exists():
        aside = target.with_name(f"{target.name}.stale-{_next_free(target)}")
        target.rename(aside)
    target.mkdir(parents=True, exist_ok=True)
    committed = committed_offsets(backend_dir / running)
    return {
        "checkpoint": checkpoint,
        "seeded_from": running,
        "seeded_batch": committed.batch_id if committed else None,
        "starting_offsets": list(committed.offsets) if committed else None,
    }


def _next_free(path: Path) -> int:
    n = 1
    while path.with_name(f"{path.name}.stale-{n}").exists():
        n += 1
    return n
