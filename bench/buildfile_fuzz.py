"""Benchmark: the BUILD reader on 100 KB of hostile input, and the Avro check on hostile schemas
(the tests only check the outcome)."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

from graphbuild.buildfiles import parse_build_file
from graphbuild.errors import BuildFileError
from tests.test_buildfiles import HOSTILE


def main() -> dict[str, object]:
    worst = 0.0
    for text in HOSTILE:
        start = time.perf_counter()
        try:
            parse_build_file("BUILD", text)
        except BuildFileError:
            pass
        worst = max(worst, time.perf_counter() - start)
    return {"inputs": len(HOSTILE), "largest_bytes": max(len(t) for t in HOSTILE), "worst_s": round(worst, 4)}


def avro_schemas(fields: int = 100_000, levels: int = 200) -> dict[str, object]:
    """``graphbuild schema compat --mode FULL`` on a ``fields``-field record (one field added), and on a
    schema nested ``levels`` deep (refused with the depth limit, exit 2)."""
    from rules.checks.kafka import schema_compat_main

    wide = {"type": "record", "name": "Wide", "fields": [{"name": f"f{i}", "type": "int"} for i in range(fields)]}
    grown = {**wide, "fields": [*wide["fields"], {"name": "extra", "type": "long", "default": 0}]}
    deep: object = "int"
    for i in range(levels):
        deep = {"type": "record", "name": f"L{i}", "fields": [{"name": "inner", "type": deep}]}
    timings = {}
    with tempfile.TemporaryDirectory() as folder:
        shallow = {"type": "record", "name": "L0", "fields": [{"name": "inner", "type": "int"}]}
        for name, old, new, expected in (("wide", wide, grown, 0), ("deep", shallow, deep, 2)):
            paths = [Path(folder) / f"{name}_old.avsc", Path(folder) / f"{name}_new.avsc"]
            for path, schema in zip(paths, (old, new)):
                path.write_text(json.dumps(schema))
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                code = schema_compat_main([*map(str, paths), "--mode", "FULL", "--format", "json"])
            timings[name] = (round(time.perf_counter() - start, 2), code)
            assert code == expected, (name, code)
    return {"fields": fields, "wide_s": timings["wide"][0], "levels": levels, "deep_s": timings["deep"][0]}


if __name__ == "__main__":
    print(json.dumps({**main(), "avro": avro_schemas()}, indent=2))
