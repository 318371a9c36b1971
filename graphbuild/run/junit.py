"""JUnit XML for CI systems (GitHub shows it with a test-report action)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from graphbuild.fsutil import atomic_write
from graphbuild.run.scheduler import ActionResult

__all__ = ["write_junit"]


def write_junit(path: Path, results: Sequence[ActionResult], *, name: str = "graphbuild test") -> None:
    suite = ET.Element(
        "testsuite",
        name=name,
        tests=str(len(results)),
        failures=str(sum(r.outcome.status == "failed" for r in results)),
        skipped=str(sum(r.outcome.status == "skipped" for r in results)),
        time=f"{sum(r.duration_s for r in results if not r.is_cached):.3f}",
    )
    for result in results:
        case = ET.SubElement(
            suite, "testcase", classname=str(result.action.label), name=result.action.name, time=f"{result.duration_s:.3f}"
        )
        if result.outcome.status == "failed":
            failure = ET.SubElement(case, "failure", message=result.outcome.summary)
            failure.text = result.outcome.log
        elif result.outcome.status == "skipped":
            ET.SubElement(case, "skipped", message=result.outcome.summary)
        if result.is_cached:
            ET.SubElement(case, "properties").append(ET.Element("property", name="cached", value="true"))
        if result.outcome.log and result.outcome.status != "failed":
            ET.SubElement(case, "system-out").text = result.outcome.log
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    atomic_write(path, ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")
