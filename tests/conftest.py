"""Shared fixtures: fixture workspaces copied into git repositories under tmp_path."""

from __future__ import annotations

import shutil
from collections.abc import Callable
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
