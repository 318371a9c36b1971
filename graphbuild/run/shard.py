"""Sharding for CI matrices: split actions into N balanced shards by recorded durations.

Longest-processing-time first: actions sorted by (recorded duration desc, id) go to the least
loaded shard (lowest index on ties). The same actions and the same durations file give the same
shards on every runner; unknown actions are estimated at the mean of the known ones.

>>> durations = {"a": 5.0, "b": 3.0, "c": 2.0}
>>> assign(["a", "b", "c", "d"], 2, durations)
[['a', 'c'], ['b', 'd']]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from graphbuild.errors import GraphbuildError
from graphbuild.fsutil import atomic_write

__all__ = ["assign", "load_durations", "parse_shard", "store_durations"]


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` with 1 <= K <= N."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise GraphbuildError(f"--shard {text!r} is not K/N", fix="write --shard 1/4 for the first of four shards") from None
    if not 1 <= k <= n:
        raise GraphbuildError(f"--shard {text}: K must be between 1 and N", fix="shards are numbered from 1")
    return k, n


def assign(ids: Sequence[str], n: int, durations: Mapping[str, float]) -> list[list[str]]:
    known = [durations[i] for i in ids if i in durations]
    default = sum(known) / len(known) if known else 1.0
    order = sorted(ids, key=lambda i: (-durations.get(i, default), i))
    shards: list[list[str]] = [[] for _ in range(n)]
    loads = [0.0] * n
    for action_id in order:
        target = min(range(n), key=lambda s: (loads[s], s))
        shards[target].append(action_id)
        loads[target] += durations.get(action_id, default)
    return [sorted(s) for s in shards]


def load_durations(path: Path) -> dict[str, float]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise GraphbuildError(f"cannot read recorded durations: {exc}", file=str(path), fix="delete the file or fix its JSON") from None
    return {str(k): float(v) for k, v in data.items()}


def store_durations(path: Path, measured: Mapping[str, float]) -> None:
    merged = {**load_durations(path), **{k: round(v, 3) for k, v in measured.items()}}
    atomic_write(path, json.dumps(dict(sorted(merged.items())), indent=1) + "\n")
