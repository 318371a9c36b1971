"""Atomic file writes: a temp file in the same folder, fsync, rename. Readers never see half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "make_cache_dir"]


def atomic_write(path: Path, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` atomically (and durably, the folder fsynced too)."""
    payload = data.encode() if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def make_cache_dir(path: Path) -> None:
    """Create a folder of the local cache; the cache root ignores itself in git, like ``.pytest_cache``,
    so it never shows up as untracked files (nor in the working tree graphbuild reads)."""
    path.mkdir(parents=True, exist_ok=True)
    marker = path.parent / ".gitignore"
    if not marker.exists():
        marker.write_text("# created by graphbuild\n*\n")
