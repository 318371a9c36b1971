"""Shared fixtures: fixture workspaces copied into git repositories under tmp_path."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from graphbuild.testing import GitWorkspace
from graphbuild.testing.s3 import moto_server
from graphbuild.testing.snowflake import fakesnow_server

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


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API over HTTP on 127.0.0.1: moto's server, started here unless scripts/test started one."""
    given = os.environ.get("GRAPHBUILD_TEST_S3_ENDPOINT")
    if given:
        yield given
        return
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def snowflake_endpoint() -> Iterator[str]:
    """A Snowflake SQL API over HTTP on 127.0.0.1: fakesnow's server, started here unless scripts/test started one."""
    given = os.environ.get("GRAPHBUILD_TEST_SNOWFLAKE_ENDPOINT")
    if given:
        yield given
        return
    with fakesnow_server() as url:
        yield url


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
