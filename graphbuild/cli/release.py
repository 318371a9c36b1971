"""The release commands' arguments: plan, deploy, approve, rollback, status, audit, health and drift.

Their implementation (``graphbuild.cli.release_commands``, thin over ``graphbuild.plan``) is imported
only when one of them runs: the deploy machinery's imports would otherwise slow every command's start.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from graphbuild.cli.console import Console

__all__ = ["COMMANDS", "add_parsers", "run"]

COMMANDS = frozenset({"plan", "deploy", "approve", "rollback", "status", "audit", "health", "drift"})


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    plan = commands.add_parser("plan", parents=[common], help="the ordered deploy plan that moves an environment to this commit")
    plan.add_argument("--env", required=True, help="dev, staging or prod (environments/<env>.toml)")
    plan.add_argument("--author", help="who the plan is by (default: GRAPHBUILD_ACTOR, GITHUB_ACTOR, the git user)")
    plan.add_argument("--out", metavar="FILE", help="also write the plan as JSON to FILE")

    dep = commands.add_parser("deploy", parents=[common], help="apply exactly one saved plan (resumes after a failure or crash)")
    dep.add_argument("--env", required=True)
    dep.add_argument("--plan", metavar="ID", help="the saved plan to apply (default: make one from the working tree now)")
    dep.add_argument("--actor", help="who deploys (default: GRAPHBUILD_ACTOR, GITHUB_ACTOR, the git user)")
    dep.add_argument("--dry-run", action="store_true", help="show what would run (and what the journal says is done)")
    dep.add_argument("--force-unlock", action="store_true", help="break the environment's lease first (audited)")

    app = commands.add_parser("approve", parents=[common], help="approve a saved plan (bound to its id)")
    app.add_argument("plan", metavar="PLAN", help="the plan id (or a unique prefix of 6+ characters)")
    app.add_argument("--env", required=True)
    app.add_argument("--by", required=True, metavar="WHO", help="the approver, a member of the environment's groups")

    back = commands.add_parser("rollback", parents=[common], help="put an environment back on an earlier plan (a pointer revert)")
    back.add_argument("--env", required=True)
    back.add_argument("--to", metavar="PLAN", help="the plan to restore (default: the one before the current)")
    back.add_argument("--actor")
    back.add_argument("--confirm", action="store_true", help="accept the steps a pointer cannot revert (listed first)")
    back.add_argument("--dry-run", action="store_true")

    stat = commands.add_parser("status", parents=[common], help="what an environment runs, and what waits for approval")
    stat.add_argument("--env", required=True)

    health = commands.add_parser("health", parents=[common], help="health checks of what an environment runs (exit 1: unhealthy)")
    health.add_argument("--env", required=True)
    drift = commands.add_parser("drift", parents=[common], help="backends compared with what the pointer says (exit 1: drift)")
    drift.add_argument("--env", required=True)

    audit = commands.add_parser(
        "audit",
        parents=[common],
        help="verify or export the audit trail",
        description="audit verify [--env E]                    check the hash chain (exit 1 on any tampering)\n"
        "audit export [--env E] [--since DATE] [--format csv|json] [--out FILE]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    audit.add_argument("audit_words", nargs=argparse.REMAINDER, metavar="verify|export ...")



def run(root: Path, session_factory: Any, console: Console, args: argparse.Namespace) -> int:
    return importlib.import_module("graphbuild.cli.release_commands").run(root, session_factory, console, args)
