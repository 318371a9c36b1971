"""The ``kafka_topic`` check: is the topic's schema compatible with its registered versions?

A topic folder holds ``schema.avsc`` (the current schema), ``topic.toml`` (its ``compatibility`` mode,
as a schema registry names them) and ``versions/<n>.avsc`` (the versions already registered). The
history is the registered versions in number order, then ``schema.avsc`` when it differs from the
latest; every version of it must be compatible with the versions before it under the topic's mode
(``avro_compat``: Avro's resolution rules, with logical types). Each pair of schemas the mode
checks is also tried for real: records generated from the writer schema, visiting every union branch
and enum symbol, are written with fastavro and read back with the reader schema (``avro_samples``).
A "compatible" verdict whose round trip fails is reported as a failure too, never passed::

    check_topics([{"topic": "payments.transactions.v1",
                   "schema": "kafka/topics/payments.transactions.v1/schema.avsc",
                   "config": "kafka/topics/payments.transactions.v1/topic.toml",
                   "versions": ["kafka/topics/payments.transactions.v1/versions/1.avsc", ...],
                   "default_compatibility": "BACKWARD", "max_records": 256}], HandlerContext(root, scratch))

The same comparison is a command, ``graphbuild schema compat OLD.avsc NEW.avsc --mode FULL``
(``schema_compat_main``): exit 0 when compatible, 1 when not, 2 when a schema cannot be read, 3 when
the checker itself fails (a bug, never to be read as "incompatible").
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
import sys
import tomllib
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphbuild.errors import GraphbuildError
from rules.checks import avro_compat
from rules.checks.avro_compat import MODES, AvroType, Incompatibility, SchemaError
from rules.checks.avro_samples import ParsedSchema, SampleError, parse_avro, round_trip, sample_records

__all__ = ["SchemaFileError", "check_topics", "compare", "load_schema", "locate", "schema_compat_main"]

DEFAULT_MAX_RECORDS = 256


class SchemaFileError(GraphbuildError, ValueError):
    """A schema file that cannot be read, decoded or parsed; the message names the file (and line)."""


@dataclass(frozen=True, slots=True)
class SchemaFile:
    """One schema file, loaded: its label (as reports name it), text, JSON and both parsed forms."""

    label: str
    path: str
    text: str
    json: Any
    avro: AvroType
    fast: ParsedSchema

    def where(self, pointer: str) -> str:
        line = locate(self.text, pointer)
        return f"{self.path}:{line}" if line else self.path


def load_schema(path: Path, display: str | None = None, label: str | None = None) -> SchemaFile:
    """Read and parse one ``.avsc`` file; every failure is a ``SchemaFileError`` naming the file."""
    shown = display or str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise SchemaFileError(f"{shown}: cannot read the schema: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SchemaFileError(f"{shown}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaFileError(f"{shown}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise SchemaFileError(f"{shown}: invalid JSON: nested too deeply") from None
    try:
        avro = avro_compat.parse(data)
    except SchemaError as exc:
        line = locate(text, exc.path)
        raise SchemaFileError(f"{shown}{f':{line}' if line else ''}: invalid Avro schema at {exc}") from None
    except RecursionError:
        raise SchemaFileError(f"{shown}: invalid Avro schema: nested too deeply") from None
    try:
        fast = parse_avro(data)
    except Exception as exc:  # fastavro raises several types (SchemaParseException, UnknownType, ...)
        raise SchemaFileError(f"{shown}: invalid Avro schema (fastavro): {type(exc).__name__}: {exc}") from None
    return SchemaFile(label or path.name, shown, text, data, avro, fast)


# ---------------------------------------------------------------------------------------------- comparison


@dataclass(frozen=True, slots=True)
class Problem:
    """An incompatibility and where it is: the reader's file and line."""

    incompatibility: Incompatibility
    where: str  # in the reader's file, where the path points
    new: str = ""  # the label of the schema checked against the ones before it
    new_where: str = ""  # the same path in that schema's file, as far as it exists there

    def line(self) -> str:
        return f"{self.where}: {self.incompatibility.describe()}"


@dataclass(frozen=True, slots=True)
class Trip:
    """One round trip: ``records`` written with ``writer``, decoded with ``reader``."""

    reader: str
    writer: str
    records: int
    is_complete: bool  # every union branch and enum symbol was written
    error: str | None
    is_resolvable: bool  # the checker's verdict for the pair

    @property
    def contradicts(self) -> bool:
        return self.is_resolvable and self.error is not None

    def line(self) -> str:
        verdict = "resolves" if self.is_resolvable else "does not resolve"
        coverage = "" if self.is_complete else " (not every branch and symbol within the record limit)"
        outcome = f"fastavro failed: {self.error}" if self.error else "fastavro read them all"
        return (f"{self.reader} reading {self.writer}: {verdict}; round trip of {self.records} "
                f"record{'s' * (self.records != 1)}"
                f"{coverage}: {outcome}")


@dataclass(slots=True)
class Report:
    mode: str
    new: SchemaFile
    registered: list[SchemaFile]
    problems: list[Problem] = field(default_factory=list)
    trips: list[Trip] = field(default_factory=list)

    @property
    def is_compatible(self) -> bool:
        return not self.problems and not any(t.contradicts for t in self.trips)

    def as_json(self) -> dict[str, Any]:
        return {
            "compatible": self.is_compatible,
            "mode": self.mode,
            "new": self.new.path,
            "registered": [s.path for s in self.registered],
            "incompatibilities": [
                {"path": p.incompatibility.path, "message": p.incompatibility.message, "where": p.where,
                 "reader": p.incompatibility.reader, "writer": p.incompatibility.writer}
                for p in self.problems
            ],
            "round_trips": [
                {"reader": t.reader, "writer": t.writer, "records": t.records, "complete": t.is_complete,
                 "error": t.error, "resolvable": t.is_resolvable}
                for t in self.trips
            ],
        }


def compare(mode: str, new: SchemaFile, registered: list[SchemaFile], max_records: int = DEFAULT_MAX_RECORDS) -> Report:
    """Check ``new`` against the ``registered`` versions (oldest first) as ``mode`` requires, with round trips.

    Raises ``SampleError`` when no records can be generated for a writer schema.
    """
    report = Report(mode, new, registered)
    by_label = {s.label: s for s in (*registered, new)}
    samples: dict[str, tuple[list[Any], bool]] = {}
    for reader_label, writer_label in avro_compat.pairs(mode, [s.label for s in registered], new.label):
        reader, writer = by_label[reader_label], by_label[writer_label]
        found = avro_compat.incompatibilities(reader.avro, writer.avro, reader_label=reader.label, writer_label=writer.label)
        report.problems += [Problem(i, reader.where(i.path), new.label, new.where(i.path)) for i in found]
        if writer.label not in samples:
            samples[writer.label] = sample_records(writer.fast, max_records)
        records, complete = samples[writer.label]
        error = round_trip(writer.fast, reader.fast, records)
        report.trips.append(Trip(reader.label, writer.label, len(records), complete, error, not found))
    return report


# ---------------------------------------------------------------------------------------------- handler


def check_topics(requests: list[dict[str, Any]], ctx: Any) -> list[dict[str, Any]]:
    """Handler ``rules.checks.kafka:check_topics``: one outcome per topic request."""
    root = Path(ctx.root)
    outcomes = []
    for request in requests:
        try:
            outcome = _check_topic(request, root)
        except SchemaFileError as exc:
            outcome = {"status": "failed", "summary": str(exc), "log": str(exc)}
        except SampleError as exc:
            outcome = {"status": "failed", "summary": f"{request.get('schema')}: {exc}", "log": str(exc)}
        except Exception as exc:  # one topic's surprise must not hide the others' outcomes
            outcome = {"status": "failed", "log": traceback.format_exc(),
                       "summary": f"{request.get('schema')}: the compatibility check crashed: {type(exc).__name__}: {exc}"}
        outcome.setdefault("artifacts", {})
        report_json = outcome.pop("report", None)
        if report_json is not None:
            scratch = Path(ctx.scratch)
            scratch.mkdir(parents=True, exist_ok=True)
            target = scratch / f"{request.get('topic', 'topic')}.compat.json"
            target.write_text(json.dumps(report_json, indent=2, sort_keys=True), encoding="utf-8")
            outcome["artifacts"] = {"compatibility report": str(target)}
        outcomes.append(outcome)
    return outcomes


def _mode(request: dict[str, Any], root: Path) -> str:
    """The topic's mode from ``topic.toml``, else the ``default_compatibility`` setting."""
    default = str(request.get("default_compatibility") or "BACKWARD").upper()
    if default not in MODES:
        raise SchemaFileError(f"[rules.kafka] default_compatibility {default!r} is not one of {', '.join(MODES)}")
    config = request.get("config")
    if not config:
        return default
    try:
        text = (root / config).read_text(encoding="utf-8")
        settings = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaFileError(f"{config}: cannot read the topic settings: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SchemaFileError(f"{config}: invalid TOML: {exc}") from None
    value = settings.get("compatibility", default)
    if not isinstance(value, str) or value.upper() not in MODES:
        line = next((i for i, t in enumerate(text.splitlines(), 1) if re.match(r"\s*compatibility\s*=", t)), None)
        raise SchemaFileError(f"{config}{f':{line}' if line else ''}: compatibility {value!r} is not one of "
                              f"{', '.join(MODES)}")
    return value.upper()


def _check_topic(request: dict[str, Any], root: Path) -> dict[str, Any]:
    schema_path = request["schema"]
    folder = schema_path.rpartition("/")[0]
    if unexpected := list(request.get("unexpected") or ()):
        names = ", ".join(unexpected)
        return {"status": "failed", "summary": f"{names}: registered versions must be named versions/<number>.avsc",
                "log": f"files under {folder}/versions that are not numbered versions: {names}"}
    mode = _mode(request, root)
    max_records = int(request.get("max_records") or DEFAULT_MAX_RECORDS)
    versions = [load_schema(root / p, p, p.removeprefix(folder + "/")) for p in request.get("versions") or ()]
    current = load_schema(root / schema_path, schema_path, schema_path.removeprefix(folder + "/"))
    is_registered = bool(versions) and versions[-1].json == current.json
    history = versions if is_registered else [*versions, current]
    log = [f"topic {request.get('topic', folder)}: compatibility {mode}",
           "history: " + ", ".join(s.label for s in history)
           + (f" ({current.label} is the registered {versions[-1].label})" if is_registered else "")]
    records, complete = sample_records(current.fast, max_records)
    itself = Trip(current.label, current.label, len(records), complete,
                  round_trip(current.fast, current.fast, records), is_resolvable=True)
    log.append(itself.line())
    if itself.error:
        return {"status": "failed", "log": "\n".join(log),
                "summary": f"{schema_path}: fastavro cannot read back records written with this schema: {itself.error}"}
    reports = [compare(mode, history[i], history[:i], max_records) for i in range(1, len(history))]
    log += [t.line() for r in reports for t in r.trips]
    outcome = _verdict(mode, schema_path, history, reports, log)
    outcome["report"] = {"mode": mode, "steps": [r.as_json() for r in reports]}
    return outcome


def _verdict(mode: str, schema_path: str, history: list[SchemaFile], reports: list[Report], log: list[str]) -> dict[str, Any]:
    folder = schema_path.rpartition("/")[0]
    problems = [p for r in reports for p in r.problems]
    contradictions = [t for r in reports for t in r.trips if t.contradicts]
    log += [f"INCOMPATIBLE {p.line()}" for p in problems]
    log += [f"ROUND TRIP FAILED although the schemas resolve: {t.line()}" for t in contradictions]
    if problems:
        summary = _failure_summary(mode, problems)
    elif contradictions:
        t = contradictions[0]
        summary = f"{folder}/{t.reader}: reads {t.writer} by the resolution rules, but fastavro failed: {t.error}"
    elif len(history) == 1:
        first = f"it is the only registered version ({history[0].label})" if history[0].path != schema_path else \
            "no version is registered yet"
        summary = f"{schema_path}: valid and read back with fastavro; {first}, so nothing to be {mode} compatible with"
    elif mode == "NONE":
        summary = f"{schema_path}: valid; compatibility NONE requires nothing of the {len(history) - 1} earlier versions"
    else:
        checked = sum(len(r.trips) for r in reports)
        summary = (f"{schema_path}: {mode} compatible across {len(history)} versions "
                   f"({checked} reader/writer pair{'s' * (checked != 1)}, each also read back with fastavro)")
    status = "failed" if problems or contradictions else "passed"
    return {"status": status, "summary": summary, "log": "\n".join(log)}


def _failure_summary(mode: str, problems: list[Problem]) -> str:
    """``<file:line>: not MODE compatible (...): new reading v2, v1 at /path, /path; v2 reading new at ...``.

    Every path is named; checks of the new schema against several versions that fail the same way
    are named once.
    """
    groups: dict[tuple[str, bool, tuple[str, ...]], list[str]] = {}
    pair_paths: dict[tuple[str, str, str], list[str]] = {}
    for p in problems:
        i = p.incompatibility
        pair_paths.setdefault((p.new, i.reader, i.writer), []).append(i.path)
    for (new, reader, writer), paths in pair_paths.items():
        is_reader = reader == new
        groups.setdefault((new, is_reader, tuple(paths)), []).append(writer if is_reader else reader)
    parts = [
        (f"{new} reading {', '.join(others)}" if is_reader else f"{', '.join(others)} reading {new}")
        + f" at {', '.join(paths)}"
        for (new, is_reader, paths), others in groups.items()
    ]
    first = problems[0]
    count = f"{len(problems)} incompatibilit{'y' if len(problems) == 1 else 'ies'}"
    return f"{first.new_where or first.where}: not {mode} compatible ({count}; first: {first.incompatibility.message}): {'; '.join(parts)}"


# ---------------------------------------------------------------------------------------------- locating


_WS = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


def locate(text: str, pointer: str) -> int | None:
    """The line of ``pointer`` (``/fields/amount/type/scale``, fields by name) in a JSON schema text;
    the deepest part of the path that exists when the rest does not (a named type used by reference).

    >>> locate('{"type": "record",\\n "fields": [\\n  {"name": "a",\\n   "type": "int"}]}', "/fields/a/type")
    4
    """
    try:
        node, _ = _JsonLines(text).value(_WS.match(text, 0).end())  # type: ignore[union-attr]
    except (ValueError, IndexError, RecursionError):
        return None
    line = node[0]
    for segment in [s for s in pointer.split("/") if s]:
        content = node[1]
        if isinstance(content, dict) and segment in content:
            line, node = content[segment]
        elif isinstance(content, list):
            if segment.isdigit() and int(segment) < len(content):
                node = content[int(segment)]
            else:
                named = [n for n in content if _name_of(n) == segment]
                if not named:
                    break
                node = named[0]
            line = node[0]
        else:
            break
    return line


def _name_of(node: tuple[int, Any]) -> Any:
    """The "name" of an object node (a field, a named type), or None."""
    content = node[1]
    return content["name"][1][1] if isinstance(content, dict) and "name" in content else None


class _JsonLines:
    """A JSON reader that keeps the line of every value and key: node = (line, content)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos)

    def value(self, pos: int) -> tuple[tuple[int, Any], int]:
        char, line = self.text[pos], self.line(pos)
        if char == "{":
            out: dict[str, Any] = {}
            pos = _WS.match(self.text, pos + 1).end()  # type: ignore[union-attr]
            while self.text[pos] != "}":
                key_line = self.line(pos)
                key, pos = json.decoder.scanstring(self.text, pos + 1)
                pos = _WS.match(self.text, pos).end() + 1  # type: ignore[union-attr]  # the colon
                child, pos = self.value(_WS.match(self.text, pos).end())  # type: ignore[union-attr]
                out[key] = (key_line, child)
                pos = _WS.match(self.text, pos).end()  # type: ignore[union-attr]
                if self.text[pos] == ",":
                    pos = _WS.match(self.text, pos + 1).end()  # type: ignore[union-attr]
            return (line, out), pos + 1
        if char == "[":
            items: list[Any] = []
            pos = _WS.match(self.text, pos + 1).end()  # type: ignore[union-attr]
            while self.text[pos] != "]":
                child, pos = self.value(pos)
                items.append(child)
                pos = _WS.match(self.text, pos).end()  # type: ignore[union-attr]
                if self.text[pos] == ",":
                    pos = _WS.match(self.text, pos + 1).end()  # type: ignore[union-attr]
            return (line, items), pos + 1
        if char == '"':
            text, pos = json.decoder.scanstring(self.text, pos + 1)
            return (line, text), pos
        match = _SCALAR.match(self.text, pos)
        if not match:
            raise ValueError(f"unexpected {char!r} at {pos}")
        return (line, json.loads(match.group())), match.end()


# ---------------------------------------------------------------------------------------------- command


def schema_compat_main(argv: list[str]) -> int:
    """``graphbuild schema compat OLD.avsc [OLD.avsc ...] NEW.avsc [--mode MODE] [--format text|json]``.

    Exit 0 when NEW is compatible with the OLD versions (oldest first) under MODE, 1 when not (each
    incompatibility named by its path in the reading schema), 2 when a file is not a valid schema, 3 when
    the checker fails unexpectedly (a bug; ``--debug`` shows its traceback). The crash is caught here,
    not left to the CLI: an uncaught exception exits 1, which would read as a verdict.
    """
    parser = argparse.ArgumentParser(
        prog="graphbuild schema compat",
        description="Check that a new Avro schema may follow the registered ones under a compatibility mode; "
                    "records generated from each writer schema are also read back with fastavro.",
    )
    parser.add_argument("old", nargs="+", metavar="OLD", help="registered versions, oldest first (.avsc)")
    parser.add_argument("new", metavar="NEW", help="the new schema (.avsc)")
    parser.add_argument("--mode", type=str.upper, choices=MODES, default="BACKWARD",
                        help="BACKWARD: NEW reads the latest OLD; FORWARD: the latest OLD reads NEW; FULL: both; "
                             "_TRANSITIVE: every OLD (default BACKWARD)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    args = parser.parse_args(argv)
    try:
        registered = [load_schema(Path(p), p, p) for p in args.old]
        new = load_schema(Path(args.new), args.new, args.new)
        if any(s.label == new.label for s in registered):
            raise SchemaFileError(f"{args.new}: NEW is also given as OLD")
        report = compare(args.mode, new, registered)
    except (SchemaFileError, SampleError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug in the checker: not a verdict, so not exit 1 (an uncaught exception's code)
        if args.debug:
            traceback.print_exc()
        print(f"{parser.prog}: internal error, no verdict: {type(exc).__name__}: {exc} (a bug in the checker: "
              f"please report it with the schemas{'' if args.debug else '; --debug shows the traceback'})", file=sys.stderr)
        return 3
    if args.format == "json":
        print(json.dumps(report.as_json(), indent=2))
        return 0 if report.is_compatible else 1
    checked = {label for pair in avro_compat.pairs(args.mode, [s.label for s in registered], new.label) for label in pair}
    against = ", ".join(s.path for s in registered if s.label in checked) or ", ".join(s.path for s in registered)
    for problem in report.problems:
        print(problem.line())
    for trip in report.trips:
        if trip.contradicts:
            print(f"round trip failed although the schemas resolve: {trip.line()}")
    if report.is_compatible:
        trips = len(report.trips)
        print(f"{new.path} is {args.mode} compatible with {against} ({trips} round trip{'s' * (trips != 1)})")
        return 0
    count = len(report.problems) or len([t for t in report.trips if t.contradicts])
    print(f"{new.path} is not {args.mode} compatible with {against}: {count} problem{'s' * (count != 1)}")
    return 1
