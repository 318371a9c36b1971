"""``airflow_dag`` on the local backend: DAG files synced into the environment's DAGs folder.

One step per DAG, ``sync`` (phase ORCHESTRATION, pointer-revertible: every version's bytes stay in
the state store, so a rollback re-applies the earlier step). Its files are the DAG file, its config
files and ``.airflowignore`` files, and every ``python_library`` module it imports, transitively (the
``dags/common`` helpers). They land in ``<backend_dir>/dags`` at their import paths: the DAG relative
to its DAGs folder, a library module relative to its Python source root, so ``from common.dbt import
dbt_task`` resolves there as it does in the workspace::

    sync_step(target, ctx).request["layout"]
    # {"dags/common/dbt.py": "common/dbt.py", ..., "dags/spark_batch/x.py": "spark_batch/x.py"}

Each file is written atomically and only when its bytes differ; the DAG file is written last, so the
scheduler never parses a DAG whose helpers are not there yet. What each DAG placed is recorded in
``<backend_dir>/airflow/manifests/<dag path>.json``; a helper module is shared by many DAGs, so it is
deleted only when no manifest names it any more. ``retire`` deletes the DAG file first (the scheduler
stops at once), then the helpers no other DAG uses, then the manifest, so a crash anywhere leaves a
state the rerun finishes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from graphbuild.errors import DeployError, RuleError
from graphbuild.plan.definition import DeployContext, DeployPlanContext, Phase, Reversibility, Step, StepSpec
from graphbuild.values import thaw
from rules.deploy.local import other_backend, write_if_changed

__all__ = ["HANDLER", "dag_layout", "doomed", "sync", "sync_step"]

HANDLER = "rules.deploy.airflow_local:sync"
MONITOR = "rules.deploy.airflow_health"  # its health and drift checks (graphbuild.plan.monitor)
_DEFAULT_DAGS_FOLDER = "dags"
_IGNORE_FILE = ".airflowignore"


def sync_step(target: Any, ctx: DeployPlanContext) -> StepSpec:
    """The ``sync`` step of one ``airflow_dag``: its files and where each lands in the DAGs folder."""
    remote = other_backend(ctx, "airflow", {"mwaa": "rules.deploy.airflow_mwaa:sync_step"})
    if remote is not None:
        return remote(target, ctx)
    dag_file, layout = dag_layout(target, ctx)
    return StepSpec.of(
        "sync",
        Phase.ORCHESTRATION,
        HANDLER,
        {"dag_file": dag_file, "layout": layout},
        files=tuple(sorted(layout)),
        reversibility=Reversibility.POINTER,
        estimate_s=1.0 + 0.05 * len(layout),
    )


def dag_layout(target: Any, ctx: DeployPlanContext) -> tuple[str, dict[str, str]]:
    """The DAG file of one ``airflow_dag`` and where each of its files lands in a DAGs folder (sorted)."""
    settings = thaw(ctx.head.globals).get("rule settings", {})
    roots = tuple(settings.get("python", {}).get("source_roots", ("",)))
    dag_file = next(p for p in target.sources if p.endswith(".py"))
    folder = dags_folder(dag_file, target.sources, str(settings.get("airflow", {}).get("dags_folder", _DEFAULT_DAGS_FOLDER)))
    layout = {path: _relative(path, folder, dag_file) for path in target.sources}
    for path in library_files(ctx.head.graph, target.label):
        layout[path] = _module_path(path, roots, dag_file)
    clashes = _clashes(layout)
    if clashes:
        raise RuleError(f"{clashes[0]} and {clashes[1]} would both land at {layout[clashes[0]]} in the DAGs folder",
                        file=dag_file, fix="rename one of the modules, or fix [rules.python] source_roots")
    return dag_file, dict(sorted(layout.items()))


def dags_folder(dag_file: str, sources: tuple[str, ...], configured: str = _DEFAULT_DAGS_FOLDER) -> str:
    """The folder the DAG file is parsed under: the configured one, else the outermost with an .airflowignore.

    >>> dags_folder("dags/x/a.py", ("dags/x/a.py",)), dags_folder("jobs/a.py", ("jobs/a.py",))
    ('dags', 'jobs')
    """
    configured = configured.strip("/")
    if dag_file.startswith(configured + "/"):
        return configured
    ignores = sorted((p.rpartition("/")[0] for p in sources if p.rpartition("/")[2] == _IGNORE_FILE), key=len)
    return ignores[0] if ignores else dag_file.rpartition("/")[0]


def library_files(graph: Any, label: Any) -> list[str]:
    """The sources of every ``python_library`` the target imports, directly or through other libraries."""
    seen, queue, files = {label}, [label], set()
    while queue:
        for edge in graph.deps[queue.pop()]:
            dep = graph.targets[edge.target]
            if edge.target not in seen and dep.kind == "python_library":
                seen.add(edge.target)
                queue.append(edge.target)
                files.update(dep.sources)
    return sorted(files)


def _relative(path: str, folder: str, dag_file: str) -> str:
    if folder and not path.startswith(folder + "/"):
        raise RuleError(f"{path} is outside the DAGs folder {folder}", file=dag_file,
                        fix="keep a DAG's config and .airflowignore files inside its DAGs folder")
    return path[len(folder) + 1 :] if folder else path


def _module_path(path: str, roots: tuple[str, ...], dag_file: str) -> str:
    prefixes = [r.strip("/") + "/" for r in roots if r.strip("/") not in ("", ".")]
    best = max((p for p in prefixes if path.startswith(p)), key=len, default="")
    if not best and "" not in [r.strip("/") for r in roots] and "." not in roots:
        raise RuleError(f"{dag_file} imports {path}, which is under no Python source root", file=dag_file,
                        fix="add its folder to [rules.python] source_roots")
    return path[len(best) :]


def _clashes(layout: dict[str, str]) -> tuple[str, str] | None:
    seen: dict[str, str] = {}
    for path, dest in sorted(layout.items()):
        if dest in seen:
            return seen[dest], path
        seen[dest] = path
    return None



# --------------------------------------------------------------------------------------------------
# The handler


def sync(step: Step, ctx: DeployContext) -> str:
    """Place (``apply``) or remove (``retire``) one DAG and its helpers in ``<backend_dir>/dags``."""
    layout: dict[str, str] = dict(step.request["layout"])
    dag_dest = layout[step.request["dag_file"]]
    dags = ctx.backend_dir / "dags"
    manifests = ctx.backend_dir / "airflow" / "manifests"
    manifest_path = manifests / f"{dag_dest}.json"
    previous = _read_manifest(manifest_path)
    if step.operation == "retire":
        placed = previous or {dest: "" for dest in layout.values()}
        with ctx.fenced(step):  # the scheduler sees the DAGs folder: every change to it is a visible switch
            removed = _remove(dags, manifests, manifest_path, placed, keep=set(), first=dag_dest)
            manifest_path.unlink(missing_ok=True)
        _prune_empty(manifest_path.parent, manifests)
        return f"retired {dag_dest} from the DAGs folder ({removed} files removed, shared helpers kept while used)"
    written, files = 0, {}
    contents = {path: ctx.read_blob(step.files[path]) for path in layout}
    with ctx.fenced(step):
        for path in sorted(layout, key=lambda p: p == step.request["dag_file"]):  # the DAG file last
            written += write_if_changed(dags / layout[path], contents[path])
            files[layout[path]] = hashlib.sha256(contents[path]).hexdigest()
        record = {"dag": dag_dest, "label": step.label, "fingerprint": step.fingerprint, "files": files}
        write_if_changed(manifest_path, json.dumps(record, indent=2, sort_keys=True) + "\n")
        stale = {dest: digest for dest, digest in (previous or {}).items() if dest not in files}
        removed = _remove(dags, manifests, manifest_path, stale, keep=set(files), first=None)
    unchanged = "" if written else " (unchanged)"
    return f"synced {dag_dest} with {len(files) - 1} other files: {written} written, {removed} removed{unchanged}"


def _read_manifest(path: Path) -> dict[str, str] | None:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8"))["files"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise DeployError(f"unreadable DAG manifest: {exc}", file=str(path),
                          fix="delete it and deploy again: sync rewrites it") from None


def _used_elsewhere(manifests: Path, own: Path) -> set[str]:
    used: set[str] = set()
    for path in manifests.rglob("*.json") if manifests.is_dir() else ():
        if path != own:
            used.update(_read_manifest(path) or {})
    return used


def _remove(dags: Path, manifests: Path, own: Path, placed: dict[str, str], keep: set[str], first: str | None) -> int:
    """Delete the placed files no other DAG's manifest names; ``first`` before the rest."""
    removed = 0
    for dest in doomed(placed, _used_elsewhere(manifests, own) | keep, first):
        target = dags / dest
        if target.is_file():
            target.unlink()
            removed += 1
        _prune_empty(target.parent, dags)
    return removed


def doomed(placed: Iterable[str], used: set[str], first: str | None) -> list[str]:
    """The placed files to delete, ``first`` (the DAG file) before the rest: those no DAG still uses.

    >>> doomed(["common/dbt.py", "x.py", "common/io.py"], {"common/io.py"}, "x.py")
    ['x.py', 'common/dbt.py']
    """
    return sorted((d for d in placed if d not in used), key=lambda d: (d != first, d))


def _prune_empty(folder: Path, stop: Path) -> None:
    while folder != stop and folder.is_relative_to(stop) and folder.is_dir():
        leftovers = [p for p in folder.iterdir() if p.name != "__pycache__"]
        if leftovers:
            return
        for cache in folder.glob("__pycache__/*"):
            cache.unlink()
        if (folder / "__pycache__").is_dir():
            (folder / "__pycache__").rmdir()
        folder.rmdir()
        folder = folder.parent
