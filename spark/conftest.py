"""Test setup shared by every Spark job's unit tests: one local SparkSession for the whole run.

Starting a JVM costs seconds, so all jobs' tests share a session-scoped `spark` fixture (local[2], two
shuffle partitions, no UI, loopback only). The import roots `spark/lib` and `spark/jobs` are put on
`sys.path` here and on `PYTHONPATH` for the Python workers Spark starts, so the tests run the same way
whether pytest is started from the repository root or from this folder.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

SPARK_DIR = Path(__file__).resolve().parent
IMPORT_ROOTS = [SPARK_DIR / "lib", SPARK_DIR / "jobs"]

for root in reversed(IMPORT_ROOTS):
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))

# Python workers inherit the environment of the JVM, which inherits ours.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [*(str(root) for root in IMPORT_ROOTS), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
# Naive datetimes in test data mean UTC, as they do in the lake.
os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """The one local SparkSession of the test run, with the jobs' production settings."""
    from finsight_spark.session import build_session

    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    extra = dict(kv.split("=", 1) for kv in os.environ.get("XCONF", "").split(",") if kv)
    session = build_session("unit-tests", master="local[2]", conf={"spark.sql.warehouse.dir": str(warehouse), **extra})
    session.sparkContext.setLogLevel("ERROR")
    yield session
    if os.environ.get("XCPU"):
        pid = session.sparkContext._gateway.proc.pid
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        print(f"\nJVM cpu: {(int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks:.1f}s")
    session.stop()


@pytest.fixture
def lake(tmp_path: Path) -> str:
    """A fresh, empty lake base path for one test."""
    path = tmp_path / "lake"
    path.mkdir()
    return str(path)


@pytest.fixture(scope="session")
def schema_root() -> Path:
    """The repository's `kafka/topics` folder: tests encode records with the topics' real schemas."""
    root = SPARK_DIR.parent / "kafka" / "topics"
    if not root.is_dir():
        pytest.fail(f"kafka/topics not found next to spark/ ({root}); the job tests need the topic schemas")
    return root
