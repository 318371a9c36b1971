"""Shared fixtures: fixture workspaces copied into git repositories under tmp_path."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from graphbuild.testing import GitWorkspace

FIXTURES = Path(__file__).parent / "fixtures"
collect_ignore_glob = ["fixtures/*"]  # fixture workspaces hold test files of their own platform
REPO_ROOT = Path(__file__).parent.parent


@pytest.fixture
def fixture_workspace(tmp_path: Path) -> Callable[[str], GitWorkspace]:
    """Copy tests/fixtures/<name> into a fresh git repository with one commit."""

    def make(name: str) -> GitWorkspace:
        root = tmp_path / name
        shutil.copytree(FIXTURES / name, root)
        workspace = GitWorkspace(root)
        workspace.commit("base")
        return workspace

    return make


@pytest.fixture
def mini(fixture_workspace: Callable[[str], GitWorkspace]) -> GitWorkspace:
    """The small workspace spanning every kind (tests/fixtures/mini), committed once."""
    return fixture_workspace("mini")


def affected(workspace: GitWorkspace, since: str = "HEAD") -> set[str]:
    with workspace.session() as session:
        return {str(label) for label in session.changes(since).affected}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API over HTTP on 127.0.0.1: moto's server, started here unless scripts/test started one."""
    given = os.environ.get("GRAPHBUILD_TEST_S3_ENDPOINT")
    if given:
        yield given
        return
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("moto's server did not start")
        yield url
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test credentials for the local S3 endpoint; never real ones."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
