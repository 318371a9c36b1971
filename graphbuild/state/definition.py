"""Where environment state lives: small files under '/'-separated keys plus content-addressed blobs.

Read and write sides are separate types: a planner gets a ``StateReader``; only a deploy, an approval
or a rollback gets a ``StateStore``. Keys are relative, '/'-separated and checked by ``check_path``:

>>> check_path("envs/dev/pointer.json")
'envs/dev/pointer.json'
>>> check_path("envs/../prod/pointer.json")
Traceback (most recent call last):
...
graphbuild.errors.StateError: invalid state key 'envs/../prod/pointer.json': part '..' is not allowed (fix: use a relative key of plain names separated by '/', such as 'envs/dev/pointer.json')
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from graphbuild.errors import StateError

__all__ = ["StateReader", "StateStore", "check_digest", "check_part", "check_path"]

_FIX = "use a relative key of plain names separated by '/', such as 'envs/dev/pointer.json'"
_DIGEST = re.compile(r"[0-9a-f]{64}")
_MAX_PART = 200  # well under the 255 bytes a file name may take


def check_part(part: str, *, key: str | None = None) -> str:
    """Return ``part`` if it is one plain name of a key, else raise ``StateError``.

    >>> check_part("dev")
    'dev'
    """
    shown = part if key is None else key
    if not isinstance(part, str) or not part:
        raise StateError(f"invalid state key {shown!r}: empty part", fix=_FIX)
    if part in (".", ".."):
        raise StateError(f"invalid state key {shown!r}: part {part!r} is not allowed", fix=_FIX)
    if part.startswith("."):
        # names starting with '.' are a store's own (temporary files, locks)
        raise StateError(f"invalid state key {shown!r}: part {part!r} starts with '.'", fix=_FIX)
    if "/" in part or "\\" in part or any(ord(c) < 32 or ord(c) == 127 for c in part):
        raise StateError(f"invalid state key {shown!r}: '/', '\\' or a control character in {part!r}", fix=_FIX)
    if len(part.encode()) > _MAX_PART:
        raise StateError(f"invalid state key {shown!r}: a part is longer than {_MAX_PART} bytes", fix=_FIX)
    return part


def check_path(path: str) -> str:
    """Return ``path`` if it is a valid key: relative, '/'-separated, no empty, '.' or '..' part."""
    if not isinstance(path, str) or not path:
        raise StateError(f"invalid state key {path!r}: empty", fix=_FIX)
    if path.startswith("/"):
        raise StateError(f"invalid state key {path!r}: absolute", fix=_FIX)
    for part in path.split("/"):
        check_part(part, key=path)
    return path


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is a lowercase sha256 hex digest, else raise ``StateError``."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise StateError(f"invalid blob digest {digest!r}", fix="pass the 64-character lowercase sha256 hex digest")
    return digest


@runtime_checkable
class StateReader(Protocol):
    """Read side of a state store: what a planner or ``graphbuild status`` gets.

    >>> from graphbuild.state import LocalStore
    >>> import tempfile; tmp = tempfile.TemporaryDirectory()
    >>> reader: StateReader = LocalStore(tmp.name)
    >>> reader.read("envs/dev/pointer.json") is None
    True
    >>> tmp.cleanup()
    """

    def read(self, path: str, offset: int = 0) -> bytes | None:
        """The bytes stored under ``path`` from ``offset`` on (b"" past the end), or None if absent."""
        ...

    def list(self, prefix: str = "") -> list[str]:
        """Every key starting with ``prefix`` (a string prefix, like S3's), sorted."""
        ...

    def get_blob(self, sha256: str) -> bytes:
        """The blob with this digest, verified; ``StateError`` if it is missing or corrupt."""
        ...

    def has_blob(self, sha256: str) -> bool:
        """Whether a blob with this digest is stored (without reading it)."""
        ...


@runtime_checkable
class StateStore(StateReader, Protocol):
    """Read and write side of a state store. Every method is safe between processes.

    >>> from graphbuild.state import LocalStore
    >>> import tempfile; tmp = tempfile.TemporaryDirectory()
    >>> store: StateStore = LocalStore(tmp.name)
    >>> store.create("envs/dev/lease.json", b"{}"), store.create("envs/dev/lease.json", b"{}")
    (True, False)
    >>> store.compare_and_swap("envs/dev/lease.json", b"{}", b"[]")
    True
    >>> store.read("envs/dev/lease.json")
    b'[]'
    >>> tmp.cleanup()
    """

    def write(self, path: str, data: bytes) -> None:
        """Replace ``path`` with ``data`` atomically: a reader sees the old or the new bytes, never half."""
        ...

    def create(self, path: str, data: bytes) -> bool:
        """Write ``data`` only if ``path`` is absent, atomically; True if this call created it."""
        ...

    def compare_and_swap(self, path: str, expected: bytes | None, new: bytes) -> bool:
        """Replace ``path`` with ``new`` only if it holds ``expected`` (None: absent); True if swapped."""
        ...

    def put_blob(self, data: bytes) -> str:
        """Store ``data`` by content and return its sha256 hex digest (idempotent)."""
        ...

    def append_line(self, path: str, line: str) -> None:
        """Append ``line`` and a newline durably, as one write no other append interleaves with.

        ``line`` must not contain a newline. If the file does not end with a newline (an earlier
        append torn by a crash), a newline is written first so the torn fragment stays a line of its own.
        """
        ...

    def lock(self, name: str) -> AbstractContextManager[None]:
        """Mutual exclusion between processes for a short critical section, named like a key.

        Used to serialize read-modify-append sequences (the audit log) and fenced writes. The
        local store's lock is released when its holder dies; the S3 store's expires a while after its
        holder stopped renewing it (graphbuild.state.s3).
        """
        ...
