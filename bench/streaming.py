"""Benchmark: the interruption of a real local Structured Streaming query during a deploy and a rollback.

Each version runs in its own process (its own JVM, as a new spark-submit would) under steady input
(``graphbuild_sequence`` at a fixed rate, see ``rules.deploy.streaming_run``). A handover:

1. the new version's process starts and warms up (JVM, session) while the old one keeps running;
2. the old one is stopped right after its running batch completes (its offsets committed);
3. the new one starts: on the same checkpoint (compatible change, restart) or on a new checkpoint from
   the old one's committed offsets (incompatible change, blue/green into a new sink folder).

Each chain runs twice: "warm", the new process has run its version once on a scratch checkpoint before
the handover (a standby), and "cold", it has only started its JVM and session (a plain new spark-submit).
The interruption is the time from the end of the old version's last batch to the end of the new one's
first (both from the queries' own progress events). Every chain is v1 -> v2 (deploy) -> v1 (rollback);
the rows of all sinks are then counted: every id once, none lost.

    .venv/bin/python -m bench.streaming        # prints the figures as JSON
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rules.deploy.streaming_compat import classify, committed_offsets, query_shape

ROOT = Path(__file__).resolve().parent.parent
RATE = 50.0  # rows per second
GOAL_S, LIMIT_S = 30.0, 120.0
CHAINS = {"compatible": ("v1", "v2-compatible", "v1"), "incompatible": ("v1", "v2-incompatible", "v1")}


def _wait(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def _batches(control: Path) -> list[dict[str, Any]]:
    path = control / "progress.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class _Run:
    """One version in its own process, under a control folder."""

    def __init__(self, work: Path, n: int, version: str, checkpoint: Path, sink: Path, epoch: float,
                 seed_from: Path | None, cold: bool) -> None:
        self.version, self.checkpoint, self.sink = version, checkpoint, sink
        self.control = work / f"run{n}-{version}"
        self.control.mkdir(parents=True)
        command = [sys.executable, "-m", "rules.deploy.streaming_run", "serve", "--version", version,
                   "--checkpoint", str(checkpoint), "--sink", str(sink), "--control", str(self.control),
                   "--epoch", str(epoch), "--rows-per-second", str(RATE)]
        if seed_from is not None:
            command += ["--seed-from", str(seed_from)]
        if cold:
            command.append("--cold")
        self.log = (self.control / "log.txt").open("w")
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)

    def ready(self) -> None:
        _wait(lambda: (self.control / "ready").exists() or self.process.poll() is not None, 300, f"{self.version} warm-up")
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.version} exited: see {self.control / 'log.txt'}")

    def go(self) -> None:
        (self.control / "go").touch()

    def stop(self) -> None:
        """Ask for a stop after the running batch; return once the query stopped (the JVM exits later)."""
        (self.control / "stop").touch()
        _wait(lambda: (self.control / "stopped").exists() or self.process.poll() is not None, 300, f"{self.version} stop")

    def exit(self) -> None:
        self.process.wait(timeout=300)
        self.log.close()

    def mark(self, name: str) -> float:
        return json.loads((self.control / name).read_text())[name]

    def batches(self) -> list[dict[str, Any]]:
        """The version's batches that read rows (not its warm-up's)."""
        started = self.control / "started"
        run = json.loads(started.read_text())["run"] if started.exists() else None
        return [b for b in _batches(self.control) if b["run"] == run]


def _chain(work: Path, kind: str, cold: bool) -> dict[str, Any]:
    versions = CHAINS[kind]
    epoch = time.time()
    runs: list[_Run] = []
    gaps: list[float] = []
    for n, version in enumerate(versions):
        if kind == "compatible" or n == 0:
            checkpoint, sink, seed = work / kind / "checkpoint", work / kind / "sink", None
        else:  # blue/green: a new checkpoint (and sink folder) from the running one's committed offsets
            checkpoint, sink, seed = work / kind / f"checkpoint-{n}", work / kind / f"sink-{n}", runs[-1].checkpoint
        run = _Run(work / kind, n, version, checkpoint, sink, epoch, seed, cold)
        run.ready()  # warm while the old version still runs
        if runs:
            runs[-1].stop()
        run.go()
        _wait(lambda: len(run.batches()) >= 3, 300, f"{version} batches")
        if runs:
            old, last, first = runs[-1], runs[-1].batches()[-1]["ended"], run.batches()[0]["ended"]
            gaps.append({"gap_s": round(first - last, 3), "stop_s": round(old.mark("stopped") - last, 3),
                         "start_s": round(first - run.mark("started"), 3)})
            old.exit()
        runs.append(run)
    runs[-1].stop()
    runs[-1].exit()
    return {"deploy": gaps[0], "rollback": gaps[1], "rows": _check_rows(runs)}


def _check_rows(runs: list[_Run]) -> dict[str, int]:
    """Every id from 0 to the last committed offset exactly once, across the chain's sinks."""
    import pyarrow.parquet as pq

    files: set[str] = set()  # the sinks' commit logs (a compacted entry repeats earlier ones: a set)
    for sink in sorted({r.sink for r in runs}):
        for entry in sorted((sink / "_spark_metadata").iterdir()):
            if not entry.name.startswith("."):
                files |= {json.loads(line)["path"] for line in entry.read_text().splitlines()[1:]}
    ids: list[int] = []
    for path in sorted(files):
        ids += pq.read_table(path.removeprefix("file://").removeprefix("file:"), columns=["id"]).column("id").to_pylist()
    committed = committed_offsets(runs[-1].checkpoint)
    end = committed.offsets[0]["offset"] if committed else 0
    return {"expected": end, "landed": len(ids), "duplicated": len(ids) - len(set(ids)),
            "lost": len(set(range(end)) - set(ids))}


def _verdicts() -> dict[str, str]:
    """What the classifier says of the two chains' changes (the bench's versions, read from their code)."""
    import inspect

    from rules.deploy import streaming_run

    def shape(version: str) -> Any:
        source = inspect.getsource(streaming_run.VERSIONS[version])
        return query_shape(["topic:sequence"], ["table:lake.sequence"], {"v.py": source})

    return {kind: classify(shape(v[0]), shape(v[1])).action for kind, v in CHAINS.items()}


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp:
        work = Path(tmp)
        results = {f"{kind} {mode}": _chain(work / mode, kind, mode == "cold")
                   for mode in ("warm", "cold") for kind in CHAINS}
    return {"chains": results, "verdicts": _verdicts(), "rate": RATE}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))


def section(r: dict[str, Any], machine: str | None = None) -> list[str]:
    """The RESULTS.md section of this benchmark (``machine``: noted when the section is written on its own)."""
    rows = []
    for name, chain in r["chains"].items():
        kind, mode = name.split()
        versions = " -> ".join(CHAINS[kind][:2])
        rows.append(f"| {versions} ({r['verdicts'][kind]}) | {mode} | {chain['deploy']['gap_s']} s "
                    f"(stop {chain['deploy']['stop_s']} s, start {chain['deploy']['start_s']} s) | "
                    f"{chain['rollback']['gap_s']} s (stop {chain['rollback']['stop_s']} s, start {chain['rollback']['start_s']} s) | "
                    f"{chain['rows']['landed']} of {chain['rows']['expected']}, {chain['rows']['duplicated']} twice, "
                    f"{chain['rows']['lost']} lost |")
    worst = max(max(c["deploy"]["gap_s"], c["rollback"]["gap_s"]) for c in r["chains"].values())
    return [
        "## Streaming deploys: interruption of a real Structured Streaming query (`python -m bench.streaming`)",
        "",
        *([f"Machine: {machine}", ""] if machine else []),
        f"pyspark local mode, one process (one JVM) per version; steady input of {r['rate']:.0f} rows/s (a Python",
        "source with Kafka-like offsets and `startingOffsets`); parquet file sink; 500 ms trigger. The gap runs from",
        "the end of the old version's last batch to the end of the new version's first (the queries' own progress",
        "events); stop: old last batch to its query stopped (after the running batch); start: new query start to",
        "its first batch. Each chain is v1 -> v2 (deploy) then v2 -> v1 (rollback); the verdict is",
        "`rules.deploy.streaming_compat`'s, read from the versions' code. A restart resumes the same checkpoint;",
        "blue/green starts a new checkpoint (and sink folder) from the old one's last committed offsets.",
        "",
        "| change (verdict) | new process | deploy gap | rollback gap | rows in the sinks |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"Worst gap: {worst} s (goal < {GOAL_S:.0f} s, never > {LIMIT_S:.0f} s). \"warm\": the new version's process ran",
        "its query once on a scratch checkpoint before the handover, so a fresh JVM's first-batch costs (Python",
        "workers, parquet writer, class loading) are paid while the old version still runs; \"cold\": it only",
        "started its JVM and session, as a plain new spark-submit would.",
        "",
    ]
