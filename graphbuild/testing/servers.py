"""Local servers for tests and benchmarks: a process on a free port of 127.0.0.1, stopped on exit.

>>> # with local_server(["python", "-m", "moto.server", "-H", "127.0.0.1", "-p", "{port}"], ready) as url: ...
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

__all__ = ["local_server"]


@contextmanager
def local_server(argv: Sequence[str], is_ready: Callable[[str], bool], *, name: str, timeout_s: float) -> Iterator[str]:
    """Run ``argv`` (``{port}`` replaced by a free port), yield ``http://127.0.0.1:<port>`` once
    ``is_ready(url)``, and terminate the process on exit."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [arg.replace("{port}", str(port)) for arg in argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while not is_ready(url):
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"{name} did not start on {url}")
            time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(10)
