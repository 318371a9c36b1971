"""A real S3 API over HTTP for tests and benchmarks: moto's server on a free port of 127.0.0.1.

>>> # with moto_server() as url: boto3.client("s3", endpoint_url=url, ...)
"""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from graphbuild.testing.servers import local_server

__all__ = ["moto_server"]


@contextmanager
def moto_server(timeout_s: float = 20.0) -> Iterator[str]:
    """Start moto's server in its own process, yield its URL, stop it on exit."""
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "{port}"]
    with local_server(argv, _answers, name="moto's server", timeout_s=timeout_s) as url:
        yield url


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "/moto-api/", timeout=1)
    except OSError:
        return False
    return True
