"""fakesnow_server: a real HTTP server the real Snowflake connector talks to, gone once the block ends."""

from __future__ import annotations

import socket
import time
import urllib.parse

import pytest
import snowflake.connector
import snowflake.connector.errors

from graphbuild.testing.snowflake import connect_args, fakesnow_server


def test_the_connector_logs_in_and_queries_over_http_then_the_port_closes() -> None:
    with fakesnow_server() as url:
        parts = urllib.parse.urlsplit(url)
        assert (parts.scheme, parts.hostname) == ("http", "127.0.0.1")
        connection = snowflake.connector.connect(**connect_args(url), database="gb", schema="s", login_timeout=30)
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT 40 + 2 AS answer")
            assert cursor.fetchall() == [(42,)]
        finally:
            connection.close()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", parts.port)) != 0


def test_a_statement_fakesnow_cannot_run_fails_within_the_network_timeout_not_minutes() -> None:
    with fakesnow_server() as url:
        connection = snowflake.connector.connect(**connect_args(url), database="gb", schema="s", login_timeout=30)
        try:
            cursor = connection.cursor()
            cursor.execute("CREATE SCHEMA gb.v1")
            started = time.monotonic()
            with pytest.raises(snowflake.connector.errors.Error):
                cursor.execute("ALTER SCHEMA gb.v1 RENAME TO v2")  # DuckDB cannot alter schemas: HTTP 500
            assert time.monotonic() - started < 30
        finally:
            connection.close()
