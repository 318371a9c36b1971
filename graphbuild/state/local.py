"""The embedded state store: a local folder, safe with several processes (deploys in two terminals).

Keys are files under the root; blobs live in ``blobs/<aa>/<sha256>``; locks are ``fcntl.flock`` locks
on files under ``.locks/`` (released by the kernel when their holder dies, so a crash never leaves a
stale lock). ``create`` links a fully written temporary file into place, which fails if the key
exists: of several processes creating the same key, exactly one wins.

>>> import tempfile; tmp = tempfile.TemporaryDirectory()
>>> store = LocalStore(tmp.name)
>>> digest = store.put_blob(b"select 1")
>>> store.get_blob(digest)
b'select 1'
>>> store.append_line("envs/dev/log.jsonl", '{"n": 1}')
>>> store.list("envs/")
['envs/dev/log.jsonl']
>>> tmp.cleanup()
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from graphbuild.errors import StateError
from graphbuild.fsutil import atomic_write
from graphbuild.state.definition import check_digest, check_path

__all__ = ["LocalStore"]

_BLOBS = "blobs"
_LOCKS = ".locks"


class LocalStore:
    """A ``StateStore`` on a folder (created on first write)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # keys

    def _file(self, path: str) -> Path:
        check_path(path)
        if path.split("/", 1)[0] == _BLOBS:
            raise StateError(f"invalid state key {path!r}: 'blobs/' is reserved for blobs", fix="use put_blob")
        return self.root / path

    def read(self, path: str, offset: int = 0) -> bytes | None:
        file = self._file(path)
        try:
            with open(file, "rb") as handle:
                if offset:
                    handle.seek(offset)
                return handle.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as error:
            raise StateError(f"cannot read state key {path!r}: {error.strerror}", file=str(file)) from error

    def list(self, prefix: str = "") -> list[str]:
        if prefix:
            check_path(prefix[:-1] if prefix.endswith("/") else prefix)
        if prefix.split("/", 1)[0] == _BLOBS:
            return []  # blobs are not keys
        folder = prefix.rpartition("/")[0]
        base = self.root / folder if folder else self.root
        keys = []
        for dirpath, dirnames, filenames in os.walk(base):
            relative = Path(dirpath).relative_to(self.root).as_posix()
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and not (relative == "." and d == _BLOBS)]
            for name in filenames:
                if name.startswith("."):
                    continue  # temporary files of a write in progress
                key = name if relative == "." else f"{relative}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def write(self, path: str, data: bytes) -> None:
        file = self._file(path)
        with self._key_lock(path):
            self._guard(path, file, lambda: atomic_write(file, data))

    def create(self, path: str, data: bytes) -> bool:
        file = self._file(path)
        return self._guard(path, file, lambda: _link_new(file, data))

    def compare_and_swap(self, path: str, expected: bytes | None, new: bytes) -> bool:
        file = self._file(path)
        with self._key_lock(path):
            if self.read(path) != expected:
                return False
            if expected is None:
                return self._guard(path, file, lambda: _link_new(file, new))
            self._guard(path, file, lambda: atomic_write(file, new))
            return True

    def append_line(self, path: str, line: str) -> None:
        if "\n" in line or "\r" in line:
            raise StateError(f"cannot append to {path!r}: the line contains a newline", fix="encode the line as JSON")
        file = self._file(path)
        with self._key_lock(path):
            self._guard(path, file, lambda: _append(file, line.encode()))

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        check_path(name)
        with self._flock(self.root / _LOCKS / "named" / f"{_name_digest(name)}.lock"):
            yield

    # blobs

    def _blob(self, digest: str) -> Path:
        check_digest(digest)
        return self.root / _BLOBS / digest[:2] / digest

    def put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        file = self._blob(digest)
        if file.exists() and _sha256_of(file) == digest:
            return digest
        if not _link_new(file, data) and _sha256_of(file) != digest:
            atomic_write(file, data)  # it was present but corrupt: replace it with the right bytes
        return digest

    def get_blob(self, sha256: str) -> bytes:
        file = self._blob(sha256)
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            raise StateError(
                f"blob {sha256} is missing from the state store",
                file=str(file),
                fix="re-run the plan that stored it (graphbuild plan) so its files are stored again",
            ) from None
        except OSError as error:
            raise StateError(f"cannot read blob {sha256}: {error.strerror}", file=str(file)) from error
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StateError(
                f"blob {sha256} is corrupt (its content does not match its digest)",
                file=str(file),
                fix="delete the file and re-run the plan that stored it, or restore it from a backup",
            )
        return data

    def has_blob(self, sha256: str) -> bool:
        return self._blob(sha256).is_file()

    # locking

    def _key_lock(self, path: str) -> AbstractContextManager[None]:
        return self._flock(self.root / _LOCKS / "keys" / f"{_name_digest(path)}.lock")

    @staticmethod
    @contextmanager
    def _flock(file: Path) -> Iterator[None]:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # flock, not lockf: it excludes threads of one process too
            yield
        finally:
            os.close(fd)  # closing releases the lock

    @staticmethod
    def _guard(path: str, file: Path, action):
        try:
            return action()
        except (NotADirectoryError, IsADirectoryError, FileExistsError) as error:
            raise StateError(
                f"cannot write state key {path!r}: a key cannot also be a folder of keys",
                file=str(file),
                fix="use a key that is not a prefix folder of another key",
            ) from error
        except OSError as error:
            raise StateError(f"cannot write state key {path!r}: {error.strerror}", file=str(file)) from error


def _link_new(file: Path, data: bytes) -> bool:
    """Write a temporary file fully, then hard-link it into place: fails (False) if ``file`` exists."""
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".new")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, file)
        except FileExistsError:
            return False
    finally:
        os.unlink(tmp)
    _fsync_dir(file.parent)
    return True


def _append(file: Path, data: bytes) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    created = not file.exists()
    fd = os.open(file, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a torn earlier line stays a line of its own
        payload = memoryview(data + b"\n")
        while payload:
            payload = payload[os.write(fd, payload) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_dir(file.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _name_digest(name: str) -> str:
    # flat lock files: a key's lock never collides with another key's folder
    return hashlib.sha256(name.encode()).hexdigest()[:32]


def _sha256_of(file: Path) -> str | None:
    try:
        return hashlib.sha256(file.read_bytes()).hexdigest()
    except OSError:
        return None
