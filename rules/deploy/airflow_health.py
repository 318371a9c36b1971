"""Health and drift of the DAGs folder on the local backend (``MONITOR`` of ``rules.deploy.airflow_local``).

Health: Airflow's own DagBag loads ``<backend_dir>/dags`` as the scheduler would (in a child process, so
the deploying process never imports the DAGs); every import error fails ``dag_import`` of the DAG it is
in (a file no step placed is reported under its own path), and a deployed DAG file that defines no DAG
fails ``dag_loaded``.

Drift: every file a step placed must hold the bytes the plan stored (sha256), and the folder must hold
no other Python file.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from graphbuild.errors import DeployError
from graphbuild.plan.definition import Step
from graphbuild.plan.monitor import Check, Drift, MonitorContext

__all__ = ["drift", "health", "load_folder"]

_LOADER = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
folder = sys.argv[1]
bag = DagBag(dag_folder=folder, safe_mode=False, load_op_links=False)
errors = {path: text for path, text in bag.import_errors.items()}
dags = {}
for dag in bag.dags.values():
    dags.setdefault(dag.fileloc, []).append(dag.dag_id)
print("GRAPHBUILD-DAGBAG " + json.dumps({"errors": errors, "dags": dags}))
"""


def health(steps: Sequence[Step], ctx: MonitorContext) -> Iterator[Check]:
    """``dag_import`` and ``dag_loaded`` of each deployed DAG, from one DagBag over the whole folder."""
    dags = ctx.backend_dir / "dags"
    placed = {_dag_dest(s): s for s in steps if s.operation == "apply" and "dag_file" in s.request}
    if not dags.is_dir():
        yield from (Check.of(s.label, "dag_import", "failed", "the DAGs folder is missing") for s in placed.values())
        return
    loaded = load_folder(dags)
    errors = {_relative(path, dags): text for path, text in loaded["errors"].items()}
    defined = {_relative(path, dags): ids for path, ids in loaded["dags"].items()}
    for dest, step in sorted(placed.items()):
        if dest in errors:
            yield Check.of(step.label, "dag_import", "failed", f"{dest}: {_last_line(errors[dest])}", import_errors=1)
            continue
        yield Check.of(step.label, "dag_import", "passed", f"{dest} imports", import_errors=0)
        ids = defined.get(dest, [])
        yield Check.of(step.label, "dag_loaded", "passed" if ids else "failed",
                       f"{dest}: {', '.join(sorted(ids))}" if ids else f"{dest} defines no DAG", dags=len(ids))
    for dest in sorted(set(errors) - set(placed)):
        yield Check.of(f"dags/{dest}", "dag_import", "failed", f"{dest} (placed by no deploy): {_last_line(errors[dest])}",
                       import_errors=1)


def load_folder(dags: Path, *, timeout_s: float = 300.0) -> dict[str, Any]:
    """Airflow's DagBag over ``dags`` in a child process: ``{"errors": {file: traceback}, "dags": {file: [dag ids]}}``."""
    from rules.checks.airflow import airflow_settings

    with tempfile.TemporaryDirectory(prefix="gb-airflow-health-") as home:
        env = {**os.environ, **airflow_settings(Path(home), dags), "PYTHONPATH": str(dags), "PYTHONDONTWRITEBYTECODE": "1"}
        done = subprocess.run([sys.executable, "-c", _LOADER, str(dags)], capture_output=True, text=True, env=env,
                              timeout=timeout_s, check=False)
    line = next((l for l in done.stdout.splitlines() if l.startswith("GRAPHBUILD-DAGBAG ")), None)
    if done.returncode != 0 or line is None:
        raise DeployError(f"Airflow's DagBag could not load {dags.name}: {_last_line(done.stderr)}",
                          fix="check that Airflow is installed in graphbuild's environment")
    return json.loads(line.partition(" ")[2])


def drift(steps: Sequence[Step], ctx: MonitorContext) -> Iterator[Drift]:
    """Files whose bytes are not the plan's, files missing, and Python files no step placed."""
    dags = ctx.backend_dir / "dags"
    expected: dict[str, tuple[str, str]] = {}  # dest -> (label, sha256)
    for step in steps:
        if step.operation == "apply" and "layout" in step.request:
            for path, dest in step.request["layout"].items():
                expected[str(dest)] = (step.label, str(step.files[path]))
    for dest, (label, digest) in sorted(expected.items()):
        file = dags / dest
        found = hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else "missing"
        if found != digest:
            yield Drift(label, "dag file", f"{dest} sha256:{digest[:12]}", f"{dest} {found if found == 'missing' else 'sha256:' + found[:12]}")
    if dags.is_dir():
        for file in sorted(dags.rglob("*.py")):
            dest = file.relative_to(dags).as_posix()
            if "__pycache__" not in file.parts and dest not in expected:
                yield Drift(f"dags/{dest}", "dag file", "absent", f"{dest} placed by no deploy")


def _dag_dest(step: Step) -> str:
    return str(step.request["layout"][step.request["dag_file"]])


def _relative(path: str, dags: Path) -> str:
    try:
        return Path(path).resolve().relative_to(dags.resolve()).as_posix()
    except ValueError:
        return path


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
