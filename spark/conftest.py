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


# Unit tests run hundreds of tiny queries: start-up cost dominates, so the JVM compiles with C1 only and
# Spark interprets expressions instead of generating code. This halves the suite's CPU time and
# changes no result (Spark's own test suites exercise the same mode).
TEST_CONF = {
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC -XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
}


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """The one local SparkSession of the test run: the jobs' local settings plus TEST_CONF."""
    from finsight_spark.session import build_session

    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = build_session("unit-tests", master="local[2]", conf={**TEST_CONF, "spark.sql.warehouse.dir": str(warehouse)})
    session.sparkContext.setLogLevel("ERROR")
    yield session
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
