"""Repository-wide pytest hooks: every Spark job test shares one worker (and so one JVM) under xdist."""

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if "/spark/" in f"/{item.nodeid}" and item.nodeid.startswith("spark/"):
            item.add_marker(pytest.mark.xdist_group("spark"))
