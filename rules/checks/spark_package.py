"""The ``package`` action of ``spark_job``: a deterministic zip of the job, whose sha256 is its identity.

``package_jobs`` (pool ``default``) zips the job's files without its tests, plus every module of the
other import roots that they import, directly or through each other (read with ``ast``). The same
sources give the same bytes: entries sorted by name, the zip epoch (1980-01-01 00:00:00) as every
timestamp, mode 0644, no directory entries, and stored rather than deflated (DEFLATE's bytes depend on
the zlib build, and the digest must not differ between a laptop and CI). Archive names are relative to
the import roots, the layout ``spark-submit --py-files`` expects; ``MANIFEST.json`` at the root names
the job, its entry point, mode, reads, writes and every file with its sha256::

    package_jobs([{"job": "payments_clean", "folder": "spark/jobs/payments_clean", "job_root": "spark/jobs",
                   "library_roots": ["spark/lib"], "files": ["spark/jobs/payments_clean/main.py", ...],
                   "main": "main.py", "mode": "batch", "reads": [...], "writes": [...]}], ctx)
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from graphbuild.errors import GraphbuildError, WorkspaceError
from graphbuild.paths import read_workspace_file
from graphbuild.run.action import HandlerContext

__all__ = ["MANIFEST", "ZIP_DATE_TIME", "PackageError", "build_package", "package_jobs"]

MANIFEST = "MANIFEST.json"
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
_FILE_ATTRIBUTES = (0o100644 << 16)  # a regular file, rw-r--r--, in the Unix half of external_attr
_UNIX = 3  # ZipInfo.create_system: the attributes above are Unix ones, whatever builds the zip


class PackageError(GraphbuildError):
    """A job that cannot be packaged: the file (and line) at fault, and the fix where there is one."""


def package_jobs(requests: list[dict[str, Any]], ctx: HandlerContext) -> list[dict[str, Any]]:
    """Write each job's package under the scratch folder and hand it to the engine as artifact ``package``."""
    return [_package_one(request, ctx) for request in requests]


def _package_one(request: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    job = request["job"]
    try:
        data = build_package(ctx.root, request)
    except PackageError as exc:
        return {"status": "failed", "summary": f"{job}: cannot package: {exc}", "log": str(exc)}
    path = ctx.scratch / f"{job}.zip"
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read(MANIFEST))
    files = manifest["files"]
    own = sum(1 for f in files if f["path"].startswith(manifest["package"] + "/"))
    lines = [f"{f['sha256']}  {f['size']:>8}  {f['path']}" for f in files]
    return {
        "status": "passed",
        "summary": f"{job}: packaged {own} job files and {len(files) - own} library modules, {len(data)} bytes, sha256:{digest}",
        "log": "\n".join([f"{path.name} sha256:{digest}", *lines]),
        "artifacts": {"package": str(path)},
    }


def build_package(root: Path, request: dict[str, Any]) -> bytes:
    """The job's zip: its files and the modules they import from the import roots, byte for byte reproducible."""
    job_root = request["job_root"].strip("/")
    roots = [job_root, *(r.strip("/") for r in request.get("library_roots", ()) if r.strip("/") != job_root)]
    entries: dict[str, str] = {}  # archive name -> workspace-relative path
    for path in request["files"]:
        entries[_archive_name(path, job_root)] = path
    pending = [name for name in sorted(entries) if name.endswith(".py")]
    scanned: set[str] = set()
    while pending:
        name = pending.pop()
        if name in scanned:
            continue
        scanned.add(name)
        for module in _imports(root, entries[name], name):
            for found_name, found_path in _resolve(root, module, roots):
                if found_name not in entries:
                    entries[found_name] = found_path
                    pending.append(found_name)
    main = _archive_name(f"{request['folder']}/{request['main']}", job_root)
    if main not in entries:
        raise PackageError("the entry point is not among the job's files", file=f"{request['folder']}/{request['main']}")
    contents = {name: _read(root, path) for name, path in entries.items()}
    package = _archive_name(request["folder"] + "/__init__.py", job_root).rpartition("/")[0]
    manifest = {
        "format": 1,
        "job": request["job"],
        "package": package,
        "entry_point": main,
        "entry_module": main.removesuffix(".py").replace("/", "."),
        "mode": request.get("mode", "batch"),
        "reads": sorted(request.get("reads", ())),
        "writes": sorted(request.get("writes", ())),
        "files": [
            {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in sorted(contents.items())
        ],
    }
    contents[MANIFEST] = (json.dumps(manifest, sort_keys=True, indent=2) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(contents):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.create_system = _UNIX
            info.external_attr = _FILE_ATTRIBUTES
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, contents[name])
    return buffer.getvalue()


def _archive_name(path: str, job_root: str) -> str:
    return path.removeprefix(job_root + "/") if job_root else path


def _read(root: Path, path: str) -> bytes:
    """A workspace file's bytes; a symlink (to /proc/self/environ, say) is refused, never packaged."""
    try:
        return read_workspace_file(root, path, symlinks="refuse")
    except WorkspaceError as exc:  # a symlink, a folder through one, a FIFO: its file and fix, as the engine says them
        raise PackageError(exc.message, file=exc.file or path, line=exc.line, fix=exc.fix) from None
    except OSError as exc:
        raise PackageError(f"cannot read it: {exc.strerror or exc}", file=path) from None


def _imports(root: Path, path: str, name: str) -> list[str]:
    """Absolute module names a Python file imports (relative imports resolved against its archive name)."""
    try:
        tree = ast.parse(_read(root, path), filename=path)
    except SyntaxError as exc:
        raise PackageError(f"syntax error: {exc.msg}", file=path, line=exc.lineno) from None
    parts = name.removesuffix(".py").split("/")
    package = parts[:-1]  # an __init__.py's package is its folder, as is a module's
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module.split(".") if node.module else []
            if node.level:
                if node.level - 1 > len(package):
                    raise PackageError("relative import beyond the import root", file=path, line=node.lineno)
                base = package[: len(package) - (node.level - 1)] + base
            out.append(".".join(base))
            out += [".".join([*base, alias.name]) for alias in node.names if alias.name != "*"]
    return [m for m in out if m]


def _resolve(root: Path, module: str, roots: list[str]) -> Iterator[tuple[str, str]]:
    """The files (archive name, workspace path) that importing ``module`` from the roots executes."""
    parts = module.split(".")
    for top in roots:
        base = root / top if top else root
        if not ((base / parts[0]).is_dir() or (base / f"{parts[0]}.py").is_file()):
            continue
        for depth in range(1, len(parts) + 1):
            stem = "/".join(parts[:depth])
            for candidate in (f"{stem}/__init__.py", f"{stem}.py"):
                if (base / candidate).is_file():
                    yield candidate, f"{top}/{candidate}" if top else candidate
                    break
            else:
                break  # a name inside a module (`from pkg.mod import function`), not a module
        return  # the first root holding the top-level name is the one Python imports from
