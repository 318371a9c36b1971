"""The examples in the engine's and the digests' docstrings run, so they never go stale."""

import doctest
import importlib
import pkgutil

import pytest

import graphbuild
import rules.digests

MODULES = sorted(
    name
    for package in (graphbuild, rules.digests)
    for _, name, _ in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    if not name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
