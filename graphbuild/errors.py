"""One root error and its hierarchy.

Every error says what went wrong, where (file:line:col when there is a file) and how to fix it.
User errors exit 2; the CLI prints ``str(error)`` on one line and the traceback only with ``--debug``.

>>> str(BuildFileError("imports are not allowed", file="warehouse/BUILD", line=3, col=1,
...                    fix="remove the import; BUILD files are never executed"))
'warehouse/BUILD:3:1: imports are not allowed (fix: remove the import; BUILD files are never executed)'
"""

from __future__ import annotations

__all__ = [
    "BuildFileError",
    "ConfigError",
    "CycleError",
    "DeployError",
    "FencingError",
    "GitError",
    "GraphError",
    "GraphbuildError",
    "LabelError",
    "PlanError",
    "QueryError",
    "RuleError",
    "StaleStateError",
    "StateError",
    "UnknownLabelError",
    "UnresolvedDependencyError",
    "WorkspaceError",
]


class GraphbuildError(Exception):
    """The root of every error graphbuild raises on purpose."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        col: int | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        self.fix = fix

    @property
    def where(self) -> str | None:
        if self.file is None:
            return None
        parts = [self.file] + [str(n) for n in (self.line, self.col) if n is not None]
        return ":".join(parts)

    def __str__(self) -> str:
        text = self.message if self.where is None else f"{self.where}: {self.message}"
        return text if self.fix is None else f"{text} (fix: {self.fix})"

    def to_dict(self) -> dict[str, object]:
        return {
            "error": type(self).__name__,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "fix": self.fix,
        }


class WorkspaceError(GraphbuildError):
    """The workspace root cannot be found or is not usable."""


class ConfigError(GraphbuildError):
    """graphbuild.toml (or another settings file) is invalid."""


class GitError(GraphbuildError):
    """A git revision or object could not be read."""


class LabelError(GraphbuildError):
    """A label or target pattern is malformed."""


class UnknownLabelError(LabelError):
    """A well-formed label names no target."""


class BuildFileError(GraphbuildError):
    """A BUILD file is not a sequence of literal calls of registered target types."""


class RuleError(GraphbuildError):
    """A rule could not discover or digest a target from its sources."""


class GraphError(GraphbuildError):
    """The target graph is inconsistent."""


class UnresolvedDependencyError(GraphError):
    """A target needs something (a ref, a topic, a table) that no target provides."""


class CycleError(GraphError):
    """The target graph has a dependency cycle."""


class QueryError(GraphbuildError):
    """A query expression is malformed."""


class StateError(GraphbuildError):
    """The state store (plans, pointers, journals, locks, the audit log) is unreadable or inconsistent."""


class StaleStateError(StateError):
    """What the command was based on has moved: a stale plan, a lost compare-and-swap."""


class FencingError(StateError):
    """A lease was taken over by another deploy; the holder of the old token must stop writing."""


class DeployError(GraphbuildError):
    """A deploy cannot start, or one of its steps failed."""

    exit_code = 1


class PlanError(GraphbuildError):
    """A plan cannot be made, approved or accepted: not promoted, not tested, not approved."""
