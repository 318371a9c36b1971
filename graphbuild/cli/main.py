"""``graphbuild``: argument parsing and one small function per command; the work is in the library."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

from graphbuild import __version__
from graphbuild.changes import Changes
from graphbuild.cli import release
from graphbuild.cli.console import FORMATS, Console
from graphbuild.cli.progress import ProgressReporter
from graphbuild.errors import GraphbuildError
from graphbuild.graph import Edge, Graph
from graphbuild.labels import Label
from graphbuild.ownership import apply_proposals, propose, unowned_files
from graphbuild.query import FUNCTIONS, evaluate
from graphbuild.rule import Command, Registry
from graphbuild.run.junit import write_junit
from graphbuild.run.runner import TestRequest, run_tests
from graphbuild.run.scheduler import RunOptions
from graphbuild.run.shard import parse_shard
from graphbuild.session import Session
from graphbuild.workspace import Workspace

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_QUERY_HELP = """\
query EXPR...                 targets matching patterns or an expression, e.g.
                                //...   //warehouse/... -//warehouse:orders   kind(_model$, //...)
                                deps(X[, depth])  rdeps([universe,] X[, depth])  somepath(A, B)  owner(FILE)
                                operators (spaces around): + union, - difference, ^ intersection
query deps|rdeps|kind|somepath|owner ARGS...   the same functions, shell style
query affected --since REV [--until REV]       targets whose data fingerprint changed (default until: working tree)
query why LABEL --since REV [--until REV]      why one target is affected
"""


def _parser(rule_commands: Mapping[str, Command] | None = None) -> argparse.ArgumentParser:
    """The argument parser; ``rule_commands`` (only for ``--help``) are listed among the commands."""
    # Global flags are accepted before and after the command; SUPPRESS keeps a later parser's
    # default from overwriting a value given earlier.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("-C", dest="directory", help="run as if started in DIR (default: .)")
    common.add_argument("--format", choices=FORMATS, help="output format (default: text)")
    common.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    common.add_argument("--no-cache", action="store_true", help="ignore the caches (facts; test: re-run every action)")

    parser = argparse.ArgumentParser(
        prog="graphbuild",
        description="Build and release engine for the FinSight data platform: "
        "affected targets, tests, plans and deploys over one content-hashed asset graph.",
        epilog="Rules add commands of their own, e.g. `graphbuild schema compat OLD.avsc NEW.avsc --mode BACKWARD`.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"graphbuild {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    query = commands.add_parser(
        "query",
        parents=[common],
        help="query the target graph, affected targets and why",
        description=_QUERY_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    query.add_argument("words", nargs=argparse.REMAINDER, metavar="EXPR", help="the query (see above)")

    test = commands.add_parser(
        "test",
        parents=[common],
        help="run the real checks of the selected (or affected) targets, cached",
        description="Run each selected target's checks in dependency order, in parallel, replaying passes from the cache. "
        "Exit 0 when everything passed, 1 when anything failed, 2 on a usage error.",
    )
    test.add_argument("patterns", nargs="*", default=["//..."], metavar="PATTERN", help="targets to test (default: //...)")
    test.add_argument("--since", metavar="REV", help="only targets affected since REV (with uncommitted changes)")
    test.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2, help="actions run at once (default: cores)")
    test.add_argument("--keep-going", action="store_true", help="run everything even after a failure (default: stop)")
    test.add_argument("-v", "--verbose", action="store_true", help="show every action's whole log, passed and cached too (default: failures only)")
    test.add_argument("--timeout", type=float, metavar="S", help="per-action timeout in seconds (default: each action's own)")
    test.add_argument("--junit", metavar="PATH", help="also write a JUnit XML report")
    test.add_argument("--shard", metavar="K/N", help="run only the K-th of N balanced shards (by recorded durations)")
    test.add_argument("--store-durations", action="store_true", help="record this run's durations for --shard")
    test.add_argument(
        "--remote-cache",
        choices=("auto", "read", "write", "off"),
        default="auto",
        help="the shared cache of [cache.remote]: auto (CI on a writer branch uploads, others read), read, write, off",
    )

    check = commands.add_parser("check", parents=[common], help="fail on tracked files that no target owns")
    check.set_defaults(check_only=True)

    tailor = commands.add_parser("tailor", parents=[common], help="write BUILD entries for files no target owns")
    tailor.add_argument("--check", action="store_true", help="only report what would be written; exit 1 if anything")
    release.add_parsers(commands, common)
    groups: dict[str, list[Command]] = {}
    for name, command in sorted((rule_commands or {}).items()):
        groups.setdefault(name.split()[0], []).append(command)
    for group, members in groups.items():  # dispatched by _rule_command before parsing: listed for --help only
        commands.add_parser(group, help="; ".join(f"{c.name}: {c.help}" for c in members), add_help=False)
    return parser


def _changes_parser(name: str, with_label: bool) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"graphbuild query {name}")
    if with_label:
        parser.add_argument("label", help="the target to explain, e.g. //warehouse:orders")
    parser.add_argument("--since", required=True, metavar="REV", help="the base revision (e.g. origin/main, HEAD~1)")
    parser.add_argument("--until", metavar="REV", help="the head revision (default: the working tree)")
    return parser


_GLOBAL_DEFAULTS = {"directory": ".", "format": "text", "debug": False, "no_cache": False}


def _hoist_global_flags(args: argparse.Namespace) -> None:
    """Fill global defaults, and let global flags follow a query (``query affected --since X --format json``)."""
    for key, value in _GLOBAL_DEFAULTS.items():
        if not hasattr(args, key):
            setattr(args, key, value)
    words, rest = list(getattr(args, "words", [])), []
    while words:
        word = words.pop(0)
        if word in ("--debug", "--no-cache"):
            setattr(args, word[2:].replace("-", "_"), True)
        elif word == "--format" and words:
            args.format = words.pop(0)
        elif word.startswith("--format="):
            args.format = word.split("=", 1)[1]
        elif word == "-C" and words:
            args.directory = words.pop(0)
        else:
            rest.append(word)
    if hasattr(args, "words"):
        args.words = rest
    if args.format not in FORMATS:
        _parser().error(f"argument --format: invalid choice: {args.format!r} (choose from {', '.join(FORMATS)})")


def _rule_command(argv: list[str]) -> int | None:
    """Dispatch ``graphbuild [--format F] [--debug] <group> <command> ...`` to a command a rule contributes, if one
    matches; the global flags given before the command go on to it (each rule command accepts them)."""
    flags: list[str] = []
    while argv:
        if argv[0] == "--format" and len(argv) > 1:
            flags, argv = [*flags, *argv[:2]], argv[2:]
        elif argv[0].startswith("--format="):
            flags, argv = [*flags, "--format", argv[0].split("=", 1)[1]], argv[1:]
        elif argv[0] == "--debug":
            flags, argv = [*flags, "--debug"], argv[1:]
        else:
            break
    if not argv or argv[0].startswith("-") or argv[0] in _BUILTIN_COMMANDS:
        return None
    try:
        commands = Registry.from_entry_points().commands()
    except GraphbuildError as exc:
        Console().error(str(exc))
        return exc.exit_code
    for words in (2, 1):
        name = " ".join(argv[:words])
        if name in commands:
            return commands[name].main(list(argv[words:]) + flags)
    group = [c for c in commands if c.split()[0] == argv[0]]
    if group and argv[1:2] in (["-h"], ["--help"]):
        Console().out.write("".join(f"graphbuild {c}: {commands[c].help}\n" for c in sorted(group)))
        return EXIT_OK
    if group:
        Console().error(f"unknown command {' '.join(argv[:2])!r}; try: " + ", ".join(f"graphbuild {c}" for c in sorted(group)))
        return EXIT_USAGE
    return None


_BUILTIN_COMMANDS = frozenset({"query", "test", "check", "tailor"}) | release.COMMANDS


_EXCLUSION = "\x00"  # marks an exclusion pattern (-//dags/...) as an argument, never a flag


def _mark_exclusions(argv: list[str]) -> list[str]:
    """``test //... -//dags/...``: argparse takes any word starting with ``-`` for a flag, so the exclusion
    patterns after ``test`` are marked as arguments (unknown real flags stay errors)."""
    at = 0
    while at < len(argv) and argv[at].startswith("-"):
        at += 2 if argv[at] in ("-C", "--format") else 1
    if argv[at : at + 1] != ["test"]:
        return argv
    return argv[: at + 1] + [_EXCLUSION + w if w.startswith("-//") else w for w in argv[at + 1 :]]


def _help_commands() -> Mapping[str, Command]:
    """The rules' commands, for the help text (a broken rule set leaves them out of the help only)."""
    try:
        return Registry.from_entry_points().commands()
    except GraphbuildError:
        return {}


def main(argv: Sequence[str] | None = None) -> int:
    # A command makes hundreds of thousands of small long-lived objects (targets, edges, fingerprints) and
    # few cycles: the default threshold (700) runs the collector thousands of times for nothing, ~45% of
    # decoding a stored revision's targets. Collect young objects every 50,000 allocations instead.
    gc.set_threshold(50_000, 10, 10)
    argv = list(sys.argv[1:] if argv is None else argv)
    dispatched = _rule_command(argv)
    if dispatched is not None:
        return dispatched
    wants_help = not argv or any(word in ("-h", "--help") for word in argv)
    args = _parser(_help_commands() if wants_help else None).parse_args(_mark_exclusions(argv))
    if args.command == "test":
        args.patterns = [p.removeprefix(_EXCLUSION) for p in args.patterns]
    _hoist_global_flags(args)
    console = Console(args.format)
    try:
        if args.command in release.COMMANDS:
            root = Workspace.find(args.directory).root
            return release.run(root, lambda: Session.open(root, use_cache=not args.no_cache), console, args)
        with Session.open(args.directory, use_cache=not args.no_cache) as session:
            match args.command:
                case "query":
                    return _query(session, console, args.words)
                case "check":
                    return _check(session, console)
                case "test":
                    return _test(session, console, args)
                case "tailor":
                    return _tailor(session, console, args.check)
        return EXIT_USAGE
    except GraphbuildError as exc:
        if args.debug:
            traceback.print_exc()
        console.error(str(exc), exc.to_dict())
        return exc.exit_code
    except KeyboardInterrupt:
        console.error("interrupted")
        return 130


def _query(session: Session, console: Console, words: list[str]) -> int:
    words = [w for w in words if w != "--"]
    if words and words[0] in ("affected", "why"):
        parsed = _changes_parser(words[0], words[0] == "why").parse_args(words[1:])
        changes = session.changes(parsed.since, parsed.until)
        for warning in session.warnings:
            console.warn(warning)
        if words[0] == "affected":
            _print_affected(session, console, changes)
        else:
            _print_why(session, console, changes, Label.parse(parsed.label))
        return EXIT_OK
    if words and words[0] in FUNCTIONS and (len(words) == 1 or words[1] != "("):
        words = [f"{words[0]}({', '.join(words[1:])})"]
    graph = session.graph()
    result = evaluate(graph, words)
    rows = [{"label": str(label), "kind": graph.targets[label].kind} for label in result.labels]

    def edges() -> list[tuple[str, str]]:
        members = set(result.labels)
        return [(str(e.source), str(e.target)) for label in result.labels for e in graph.deps[label] if e.target in members]

    payload: dict[str, object] = {"targets": rows, "is_path": result.is_path}
    if console.format == "json":  # every edge out of the selected targets, with its origin: built only where it is printed
        payload["edges"] = [_edge(e) for label in result.labels for e in graph.deps[label]]
    console.result(
        payload,
        lambda: "\n".join(r["label"] for r in rows),
        markdown=lambda: "\n".join(f"- `{r['label']}` ({r['kind']})" for r in rows),
        dot=lambda: "digraph targets {\n"
        + "".join(f'  "{r["label"]}" [label="{r["label"]}\\n{r["kind"]}"];\n' for r in rows)
        + "".join(f'  "{a}" -> "{b}";\n' for a, b in edges())
        + "}",
    )
    return EXIT_OK if rows or not result.is_path else EXIT_FAILED


def _edge(edge: Edge) -> dict[str, object]:
    """One edge with where it came from: the file and line that declared or implied it, and how."""
    return {
        "source": str(edge.source),
        "target": str(edge.target),
        "file": edge.origin.file,
        "line": edge.origin.line,
        "how": edge.origin.how,
        "check_only": edge.is_check_only,
    }


def _path_edges(graph: Graph, path: Sequence[Label]) -> list[Edge]:
    """The edges along a dependency path (``a -> b -> c``), as ``Graph.edge`` finds each pair's."""
    edges = (graph.edge(source, target) for source, target in zip(path, path[1:]))
    return [edge for edge in edges if edge is not None]


def _print_affected(session: Session, console: Console, changes: Changes) -> None:
    head = session.fingerprinted(changes.head if changes.head != "WORKTREE" else None)
    payload = {
        "base": changes.base,
        "head": changes.head,
        "affected": [
            {
                "label": str(label),
                "kind": head.graph.targets[label].kind,
                "fingerprint": head.states[label].fingerprint.data,
                "reason": changes.reasons[label].to_dict(),
            }
            for label in changes.affected
        ],
        "removed": [str(label) for label in changes.removed],
        "metadata_only": [changes.reasons[label].to_dict() for label in changes.metadata_only],
    }

    def text() -> str:
        lines = [str(label) for label in changes.affected]
        lines += [f"{label} (removed)" for label in changes.removed]
        summary = (
            f"{len(changes.affected)} affected ({len(changes.directly_changed)} directly), "
            f"{len(changes.removed)} removed, {len(changes.metadata_only)} metadata-only"
        )
        console.err.write(summary + "\n")
        return "\n".join(lines)

    def markdown() -> str:
        lines = ["| target | kind | why |", "| --- | --- | --- |"]
        for label in changes.affected:
            lines.append(f"| `{label}` | {head.graph.targets[label].kind} | {changes.reasons[label].text()} |")
        return "\n".join(lines)

    console.result(payload, text, markdown=markdown)


def _print_why(session: Session, console: Console, changes: Changes, label: Label) -> None:
    head = session.fingerprinted(changes.head if changes.head != "WORKTREE" else None)
    base = session.fingerprinted(changes.base)
    if label not in head.states and label not in base.states:
        head.graph.require(label)
    reason = changes.reasons.get(label)
    if label in changes.removed:
        payload = {"label": str(label), "affected": False, "removed": True, "reason": None}
        console.result(payload, lambda: f"{label}: removed")
        return
    edges = _path_edges(head.graph, reason.path) if reason is not None and reason.kind == "dependency" else []
    payload = {
        "label": str(label),
        "affected": label in changes.affected,
        "reason": reason.to_dict() if reason else None,
        "edges": [_edge(e) for e in edges],
    }
    if reason is None:
        console.result(payload, lambda: f"{label}: not affected (its fingerprint is unchanged)")
        return
    prefix = "not affected, metadata only: " if reason.kind == "metadata" else ""
    lines = [f"{label}: {prefix}{reason.text()}"]
    if reason.kind == "dependency" and reason.path:
        root = changes.reasons[reason.path[-1]]
        lines.append(f"  {reason.path[-1]}: {root.text()}")
    lines += [f"  edge {e.source} -> {e.target}: {e.origin}" for e in edges]
    console.result(payload, lambda: "\n".join(lines))


def _test(session: Session, console: Console, args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise GraphbuildError(f"-j {args.jobs}: need at least one job", fix="pass -j 1 or more")
    patterns = list(args.patterns)
    if all(p.startswith("-") for p in patterns):  # only exclusions: everything but those
        patterns.insert(0, "//...")
    request = TestRequest(
        patterns=tuple(patterns),
        since=args.since,
        shard=parse_shard(args.shard) if args.shard else None,
        options=RunOptions(jobs=args.jobs, keep_going=args.keep_going, use_cache=not args.no_cache, timeout_s=args.timeout),
        store_durations=args.store_durations,
        remote_cache=args.remote_cache,
    )
    reporter = ProgressReporter(console, is_live=console.err.isatty(), is_verbose=args.verbose)
    run = run_tests(session, request, reporter)
    if args.junit:
        write_junit(Path(args.junit), run.results)
    if run.corrupt_entries:
        console.warn(f"{run.corrupt_entries} corrupt cache entries were ignored and removed")
    stats = run.cache_stats
    for warning in stats.warnings:
        console.warn(warning)
    if stats.rejected:
        shown = "; ".join(f"{key[:12]}: {why}" for key, why in stats.rejected[:5])
        more = f" (and {len(stats.rejected) - 5} more)" if len(stats.rejected) > 5 else ""
        console.warn(f"{len(stats.rejected)} remote cache entries were refused and treated as misses: {shown}{more}")
    payload = {
        "selected": len(run.selected),
        "actions": len(run.results),
        "passed": run.count("passed"),
        "failed": run.count("failed"),
        "skipped": run.count("skipped"),
        "cached": run.cached,
        "duration_s": round(run.duration_s, 3),
        "time_saved_s": round(run.time_saved_s, 3),
        "workers_started": run.workers_started,
        "cache": stats.to_dict(),
    }
    if console.format == "json":  # one entry per action: built only where it is printed
        payload["results"] = [
            {
                "action": r.action.id,
                "target": str(r.action.label),
                "name": r.action.name,
                "status": r.outcome.status,
                "cached": r.is_cached,
                "duration_s": round(r.duration_s, 3),
                "summary": r.outcome.summary,
                "artifacts": dict(r.outcome.artifacts),
                "log": r.outcome.log if r.outcome.status == "failed" or args.verbose else "",
            }
            for r in run.results
        ]

    def text() -> str:
        ran = sum(not r.is_cached for r in run.results)
        return (
            f"{'OK' if run.is_success else 'FAILED'}: {len(run.results)} actions on {len(run.selected)} targets: "
            f"{payload['passed']} passed ({run.cached} cached), {payload['failed']} failed, {payload['skipped']} skipped; "
            f"{ran} ran in {run.duration_s:.1f} s, cache saved {run.time_saved_s:.1f} s\n"
            f"cache: {stats.local_hits} local hits, {stats.remote_hits} remote hits, {stats.misses} misses; "
            f"{_size(stats.bytes_down)} down, {_size(stats.bytes_up)} up ({stats.uploads} results uploaded)"
        )

    console.result(payload, text)
    return EXIT_OK if run.is_success else EXIT_FAILED


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if count < 1024 or unit == "MiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


def _check(session: Session, console: Console) -> int:
    graph = session.graph()
    snapshot, settings = session.snapshot(), session.workspace.settings
    unowned = unowned_files(graph, snapshot, settings)
    # what `tailor` would write, so the advice never sends anyone to a tailor that finds nothing
    tailorable = sorted({f for p in propose(unowned, snapshot, settings, session.registry) for f in p.files}) if unowned else []
    payload = {"targets": len(graph.targets), "unowned": list(unowned), "tailorable": tailorable}

    def text() -> str:
        if not unowned:
            return f"ok: {len(graph.targets)} targets, every tracked file is owned"
        lines = [f"{len(unowned)} tracked files are owned by no target:"] + [f"  {p}" for p in unowned]
        rest = "declare them in a BUILD file, or list them under [workspace] ignore / global_inputs"
        if len(tailorable) == len(unowned):
            lines.append("fix: run `graphbuild tailor` (it writes BUILD entries for all of them)")
        elif tailorable:
            lines.append(f"fix: run `graphbuild tailor` (it writes BUILD entries for {len(tailorable)} of them); for the others, {rest}")
        else:
            lines.append(f"fix: {rest} (`graphbuild tailor` knows none of them)")
        return "\n".join(lines)

    console.result(payload, text)
    return EXIT_FAILED if unowned else EXIT_OK


def _tailor(session: Session, console: Console, check_only: bool) -> int:
    graph = session.graph()
    snapshot = session.snapshot()
    settings = session.workspace.settings
    unowned = unowned_files(graph, snapshot, settings)
    proposals = propose(unowned, snapshot, settings, session.registry)
    written = () if check_only else apply_proposals(session.workspace.root, proposals)
    covered = {f for p in proposals for f in p.files}
    payload = {
        "proposals": [{"package": p.package, "call": p.call, "files": list(p.files)} for p in proposals],
        "written": list(written),
        "still_unowned": [p for p in unowned if p not in covered],
    }

    def text() -> str:
        if not proposals:
            return "nothing to tailor"
        verb = "would write" if check_only else "wrote"
        return "\n".join(f"{verb} {p.package}/BUILD: {p.call}" for p in proposals)

    console.result(payload, text)
    return EXIT_FAILED if check_only and proposals else EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
