"""graphbuild/paths.py: which workspace paths and sources globs are safe to name.

The safe reader itself (symlinks, folders through symlinks, FIFOs) is drilled in test_sources.py, next to
the snapshots that read through it.
"""

from hypothesis import given
from hypothesis import strategies as st

import graphbuild.paths
import graphbuild.sources
from graphbuild.paths import unsafe_glob_reason, unsafe_path_reason

PATHS = st.lists(st.sampled_from(["a", "b.sql", "**", "*.py", ".", "..", "", "x\0y", "C:", "/"]), max_size=5).map("/".join) | st.text(
    max_size=12
)


@given(PATHS)
def test_a_glob_is_judged_as_the_path_it_names(pattern):
    """Review item 13: one check for both; the glob's only differences are the ``!`` and the word "package"."""
    path_reason = unsafe_path_reason(pattern)
    expected = None if path_reason is None else path_reason.replace("the workspace", "the package")
    assert unsafe_glob_reason(pattern) == expected
    assert unsafe_glob_reason("!" + pattern) == expected


def test_a_glob_with_a_nul_byte_is_refused_as_a_path_is():
    assert unsafe_path_reason("models/a\0.sql") == unsafe_glob_reason("models/a\0.sql") == "it has an empty or '.' path component"


def test_the_path_checks_and_the_safe_reader_live_in_paths_not_sources():
    moved = {"read_workspace_file", "unsafe_glob_reason", "unsafe_path_reason"}
    assert moved <= set(graphbuild.paths.__all__)
    assert not moved & set(graphbuild.sources.__all__)
