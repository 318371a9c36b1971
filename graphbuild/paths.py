"""Workspace-relative paths: which ones are safe to name, and reading a file without following symlinks.

A path a BUILD file, a rule or a request names is relative to the workspace root (a glob: to its
package) and never leaves it; a file is read through ``read_workspace_file``, which follows no
symlink, so a committed link to ``/proc/self/environ`` is never read as the file it points to.

>>> unsafe_path_reason("pipelines/../../etc/passwd")
"it leaves the workspace ('..')"
>>> unsafe_glob_reason("!../**")
"it leaves the package ('..')"
>>> unsafe_glob_reason("!tests/**") is None
True
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import Literal

from graphbuild.errors import WorkspaceError

__all__ = ["SymlinkPolicy", "read_workspace_file", "unsafe_glob_reason", "unsafe_path_reason"]

SymlinkPolicy = Literal["link-text", "refuse"]
_NOFOLLOW = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0)  # O_NONBLOCK: a FIFO must not hang the read
_SYMLINK_FIX = (
    "replace the symlink with a regular file or folder; git stores a symlink as its link text, never the file it points to"
)


def unsafe_path_reason(path: str, *, within: str = "workspace") -> str | None:
    """Why ``path`` is not a relative path inside ``within`` (the workspace), or None when it is.

    >>> unsafe_path_reason("pipelines/orders/main.py") is None
    True
    >>> unsafe_path_reason("/etc/passwd")
    'it is an absolute path'
    """
    if not path:
        return "it is empty"
    if path.startswith("/") or re.match(r"[A-Za-z]:[\\/]", path):
        return "it is an absolute path"
    parts = path.split("/")
    if ".." in parts:
        return f"it leaves the {within} ('..')"
    if "." in parts or "" in parts or "\0" in path:
        return "it has an empty or '.' path component"
    return None


def unsafe_glob_reason(pattern: str) -> str | None:
    """Why a sources glob (``!`` excludes) cannot select anything inside its package, or None when it can.

    >>> unsafe_glob_reason("../../**")
    "it leaves the package ('..')"
    >>> unsafe_glob_reason("models/**/*.sql") is None
    True
    """
    return unsafe_path_reason(pattern.removeprefix("!"), within="package")


def read_workspace_file(root: Path, path: str, *, symlinks: SymlinkPolicy = "refuse") -> bytes:
    """The bytes of the workspace file ``path`` (relative to ``root``), read without following any symlink.

    A symlinked folder on the way is refused; a symlink as the file itself is its link text, as git stores it,
    with ``symlinks="link-text"`` (reading, digesting, scanning), else refused (packaging, deploying). A path
    that leaves the workspace and anything but a regular file are refused too: ``WorkspaceError`` naming
    the path. A missing file raises ``FileNotFoundError``.

    >>> # read_workspace_file(root, "pipelines/orders/leak.py")  # a symlink to /proc/self/environ: WorkspaceError
    """
    reason = unsafe_path_reason(path)
    if reason is not None:
        raise WorkspaceError(f"{path!r} is not a workspace file path: {reason}", fix="name files relative to the workspace root")
    parts = path.split("/")
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for depth, part in enumerate(parts[:-1], 1):
            try:
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR) and stat.S_ISLNK(os.lstat(part, dir_fd=folder).st_mode):
                    raise _symlink_error("/".join(parts[:depth]), "folder") from None
                raise
            os.close(folder)
            folder = inner
        try:
            fd = os.open(parts[-1], _NOFOLLOW, dir_fd=folder)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            if symlinks == "link-text":
                return os.fsencode(os.readlink(parts[-1], dir_fd=folder))
            raise _symlink_error(path, "file") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise WorkspaceError("not a regular file", file=path, fix="track regular files only")
        with os.fdopen(fd, "rb") as handle:
            return handle.read()
    finally:
        os.close(folder)


def _symlink_error(path: str, what: str) -> WorkspaceError:
    return WorkspaceError(f"this {what} is a symlink; graphbuild never follows symlinks", file=path, fix=_SYMLINK_FIX)
