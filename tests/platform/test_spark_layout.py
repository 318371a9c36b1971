"""The Spark part of the platform keeps the layout the engine infers edges from.

Cheap checks only (no JVM): the 15 job packages and their BUILD targets, the shared library target,
the import discipline, and that every entry point answers --help.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPARK = ROOT / "spark"
JOBS = SPARK / "jobs"
LIB = SPARK / "lib"

# The jobs of the FinSight platform and exactly what each reads and writes.
EXPECTED_JOBS: dict[str, tuple[str, list[str], list[str]]] = {
    "payments_stream_ingest": ("streaming", ["topic:payments.transactions.v1"], ["table:lake.payments_raw"]),
    "card_auth_stream_ingest": ("streaming", ["topic:cards.authorizations.v1"], ["table:lake.card_authorizations_raw"]),
    "fraud_signal_stream": (
        "streaming",
        ["topic:fraud.signals.v1", "topic:cards.authorizations.v1"],
        ["table:lake.fraud_signals_raw"],
    ),
    "payments_clean": ("batch", ["table:lake.payments_raw", "table:lake.fx_rates_daily"], ["table:lake.payments_clean"]),
    "card_fraud_scoring": (
        "batch",
        ["table:lake.card_authorizations_raw", "table:lake.fraud_signals_raw"],
        ["table:lake.card_fraud_scores"],
    ),
    "transfers_ingest": ("batch", ["topic:transfers.events.v1"], ["table:lake.transfers"]),
    "ledger_ingest": ("batch", ["topic:ledger.entries.v1"], ["table:lake.ledger_entries"]),
    "kyc_ingest": ("batch", ["topic:kyc.events.v1"], ["table:lake.kyc_events"]),
    "fx_rates_daily": ("batch", ["topic:fx.rates.v1"], ["table:lake.fx_rates_daily"]),
    "accounts_snapshot": ("batch", ["topic:accounts.changes.v1"], ["table:lake.accounts_snapshot"]),
    "merchant_enrichment": ("batch", ["table:lake.payments_clean"], ["table:lake.merchants"]),
    "chargeback_ingest": ("batch", ["table:lake.payments_clean"], ["table:lake.chargebacks"]),
    "aml_features": (
        "batch",
        ["table:lake.transfers", "table:lake.kyc_events", "table:lake.accounts_snapshot"],
        ["table:lake.aml_features"],
    ),
    "settlement_batches": ("batch", ["table:lake.payments_clean", "table:lake.ledger_entries"], ["table:lake.settlements"]),
    "customer_360_features": (
        "batch",
        ["table:lake.accounts_snapshot", "table:lake.payments_clean", "table:lake.card_fraud_scores"],
        ["table:lake.customer_features"],
    ),
}
REF = re.compile(r"^(topic:[a-z][a-z0-9_]*(\.[a-z0-9_]+)*\.v[0-9]+|table:lake\.[a-z][a-z0-9_]*)$")
WALL_CLOCK = {("datetime", "now"), ("datetime", "utcnow"), ("date", "today"), ("time", "time"), ("F", "current_date"),
              ("F", "current_timestamp"), ("F", "now")}


def build_calls(path: Path) -> list[tuple[str, dict]]:
    """The calls of a BUILD file as (function, literal kwargs), the way the engine reads them."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    calls = []
    for statement in tree.body:
        assert isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call), f"{path}: only calls allowed"
        call = statement.value
        assert isinstance(call.func, ast.Name) and not call.args, f"{path}:{call.lineno}: keyword arguments only"
        calls.append((call.func.id, {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}))
    return calls


def job_target(job: str) -> dict:
    [(kind, kwargs)] = build_calls(JOBS / job / "BUILD")
    assert kind == "spark_job"
    return kwargs


def test_the_fifteen_jobs_are_there_and_nothing_else():
    found = sorted(p.name for p in JOBS.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    assert found == sorted(EXPECTED_JOBS)
    modes = [job_target(job)["mode"] for job in EXPECTED_JOBS]
    assert (modes.count("batch"), modes.count("streaming")) == (12, 3)


@pytest.mark.parametrize("job", sorted(EXPECTED_JOBS))
def test_job_package_and_build_target(job):
    folder = JOBS / job
    for name in ("__init__.py", "main.py", "transforms.py", "BUILD", f"tests/test_{job}.py"):
        assert (folder / name).is_file(), f"{job} lacks {name}"
    assert not (folder / "tests" / "__init__.py").exists(), "test modules are imported by their unique basename"

    target = job_target(job)
    mode, reads, writes = EXPECTED_JOBS[job]
    assert target["main"] == "main.py"
    assert (target["mode"], target["reads"], target["writes"]) == (mode, reads, writes)
    assert all(REF.match(ref) for ref in target["reads"] + target["writes"])
    assert target["description"] and target["owners"]
    for ref in target["reads"]:
        if ref.startswith("topic:"):
            assert (ROOT / "kafka" / "topics" / ref.removeprefix("topic:")).is_dir(), f"{job} reads unknown {ref}"


@pytest.mark.parametrize("job", sorted(EXPECTED_JOBS))
def test_job_imports_and_no_wall_clock(job):
    """Jobs import the library, their own package, pyspark and the standard library, never another job;
    nothing but the run date decides what a run does."""
    others = set(EXPECTED_JOBS) - {job}
    for path in (JOBS / job).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                root = node.module.split(".")[0]
                assert root not in others, f"{path}:{node.lineno} imports another job ({node.module})"
                if root == job:
                    assert node.level == 0
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and "tests" not in path.parts:
                assert (node.value.id, node.attr) not in WALL_CLOCK, f"{path}:{node.lineno} reads the wall clock"
    main = ast.parse((JOBS / job / "main.py").read_text(encoding="utf-8"))
    modules = {node.module for node in ast.walk(main) if isinstance(node, ast.ImportFrom)}
    assert f"{job}.transforms" in modules and any(m and m.startswith("finsight_spark.") for m in modules)


def test_library_target_and_ignores():
    [(kind, target)] = build_calls(LIB / "BUILD")
    assert (kind, target["sources"]) == ("python_library", ["finsight_spark/**/*.py"])
    assert (LIB / "finsight_spark" / "__init__.py").is_file()
    ignored = (SPARK / ".gitignore").read_text(encoding="utf-8").split()
    assert {"checkpoints/", "spark-warehouse/", "metastore_db/"} <= set(ignored)


def test_every_written_table_has_a_contract():
    sys.path.insert(0, str(LIB))
    try:
        from finsight_spark.tables import TABLES
    finally:
        sys.path.remove(str(LIB))
    written = {ref.removeprefix("table:") for _, _, writes in EXPECTED_JOBS.values() for ref in writes}
    assert written == set(TABLES)


def test_every_entry_point_answers_help():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(LIB), str(JOBS)])}
    processes = {
        job: subprocess.Popen(
            [sys.executable, str(JOBS / job / "main.py"), "--help"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for job in EXPECTED_JOBS
    }
    for job, process in processes.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, f"{job}: {err}"
        mode = EXPECTED_JOBS[job][0]
        assert ("--checkpoint" if mode == "streaming" else "--run-date") in out
        assert "--base-path" in out


# ---------------------------------------------------------------------------------------------------
# The shared library's pure-Python parts (the job tests cover the Spark parts in local mode).


@pytest.fixture(scope="module")
def lib():
    sys.path.insert(0, str(LIB))
    try:
        import finsight_spark.avro as avro
        import finsight_spark.io as io
        import finsight_spark.schemas as schemas
        import finsight_spark.testing as testing

        yield {"avro": avro, "io": io, "schemas": schemas, "testing": testing}
    finally:
        sys.path.remove(str(LIB))


def test_library_reads_no_wall_clock():
    for path in (LIB / "finsight_spark").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                assert (node.value.id, node.attr) not in WALL_CLOCK, f"{path}:{node.lineno} reads the wall clock"


FACTORIES = {
    "payments.transactions.v1": "payment_event",
    "cards.authorizations.v1": "card_authorization",
    "transfers.events.v1": "transfer_event",
    "ledger.entries.v1": "ledger_entry",
    "fraud.signals.v1": "fraud_signal",
    "kyc.events.v1": "kyc_event",
    "fx.rates.v1": "fx_rate",
    "accounts.changes.v1": "account_change",
}


@pytest.mark.parametrize("topic", sorted(FACTORIES))
def test_every_topic_schema_decodes_into_spark_types(lib, topic):
    """The jobs decode each topic with its current schema: it must map onto Spark types, and the test
    records the jobs' tests publish must survive the producers' framing unchanged."""
    schema = lib["avro"].load_topic_schema(topic, ROOT / "kafka" / "topics")
    struct = lib["schemas"].avro_to_spark(schema)
    assert struct.fieldNames() == [field["name"] for field in schema["fields"]]

    record = getattr(lib["testing"], FACTORIES[topic])()
    for wire_format in ("glue", "confluent", "none"):
        payload = lib["avro"].encode_record(record, schema, wire_format=wire_format)
        decoded = lib["avro"].decode_payload(payload, schema, wire_format)
        assert decoded == record


def test_framing_rejects_foreign_payloads(lib):
    avro = lib["avro"]
    with pytest.raises(avro.AvroDecodeError, match="Glue"):
        avro.unframe_payload(b"\x00\x00\x00\x00\x07body", "glue")
    with pytest.raises(avro.AvroDecodeError, match="Confluent"):
        avro.unframe_payload(b"\x03\x00" + bytes(16) + b"body", "confluent")
    assert avro.unframe_payload(avro.frame_payload(b"body", "glue"), "glue") == b"body"


def test_lake_table_names(lib):
    io = lib["io"]
    assert io.table_path("s3://finsight-lake/", "lake.payments_clean") == "s3://finsight-lake/payments_clean"
    assert io.partition_path("lake-root", "lake.settlements", "2024-05-01") == "lake-root/settlements/ds=2024-05-01"
    for bad in ("payments_clean", "raw.payments", "lake.Payments", "lake.payments-clean"):
        with pytest.raises(io.TableNameError):
            io.table_id(bad)
