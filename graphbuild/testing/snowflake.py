"""A Snowflake SQL API over HTTP for tests: fakesnow's server (DuckDB underneath) on a free port of 127.0.0.1.

The server speaks the wire protocol of snowflake-connector-python (login, queries, sessions), so the
real connector (and the tools built on it) connect to it with ``host``, ``port`` and ``protocol="http"``; any
account, user and password are accepted. Its databases live in memory, shared by every connection
to the server, and vanish when it stops.

>>> # with fakesnow_server() as url: snowflake.connector.connect(**connect_args(url), ...)
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from graphbuild.testing.servers import local_server

__all__ = ["connect_args", "fakesnow_server"]


@contextmanager
def fakesnow_server(timeout_s: float = 30.0) -> Iterator[str]:
    """Start fakesnow's server (``python -m fakesnow -s``) in its own process, yield its URL, stop it on exit.

    SIGTERM ends it at once (fakesnow waits for SIGINT only)."""
    argv = [sys.executable, "-m", "fakesnow", "-s", "--host", "127.0.0.1", "-p", "{port}"]
    with local_server(argv, _answers, name="fakesnow's server", timeout_s=timeout_s) as url:
        yield url


def connect_args(url: str) -> dict[str, Any]:
    """Keyword arguments of ``snowflake.connector.connect`` for a fakesnow server at ``url``."""
    parts = urllib.parse.urlsplit(url)
    return {
        "host": parts.hostname,
        "port": parts.port,
        "protocol": parts.scheme,
        "account": "fakesnow",
        "user": "fake",
        "password": "snow",
        # the connector would report some failures to Snowflake's telemetry service; there is none here
        "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
        # fakesnow answers what DuckDB cannot do (e.g. ALTER SCHEMA ... RENAME) with HTTP 500, which the
        # connector retries until this many seconds have passed: without it a test hangs for minutes
        "network_timeout": 5,
    }


def _answers(url: str) -> bool:
    # the server has no health route: any HTTP answer (a 404 for GET /) means uvicorn is serving
    try:
        urllib.request.urlopen(url + "/", timeout=1)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True
