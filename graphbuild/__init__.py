"""graphbuild: the build and release engine of the FinSight data platform.

>>> # from graphbuild import Session
>>> # with Session.open(".") as s: print(s.changes(since="HEAD~1").affected)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# The public API, loaded on first use (PEP 562): a command imports only the modules it runs, so
# `graphbuild query` does not pay for the deploy machinery's imports at every start.
_EXPORTS = {
    "Analyzer": "graphbuild.sources",
    "BuildFileError": "graphbuild.errors",
    "Changes": "graphbuild.changes",
    "ConfigError": "graphbuild.errors",
    "Configurable": "graphbuild.rule",
    "CycleError": "graphbuild.errors",
    "DeployContext": "graphbuild.plan.definition",
    "DeployError": "graphbuild.errors",
    "DeployPlanContext": "graphbuild.plan.definition",
    "DeployProvider": "graphbuild.plan.definition",
    "Digest": "graphbuild.rule",
    "Edge": "graphbuild.graph",
    "Environment": "graphbuild.envs",
    "FactCache": "graphbuild.sources",
    "FencingError": "graphbuild.errors",
    "Field": "graphbuild.rule",
    "Fingerprint": "graphbuild.fingerprint",
    "Fingerprinted": "graphbuild.fingerprint",
    "GitError": "graphbuild.errors",
    "GitRevision": "graphbuild.sources",
    "Graph": "graphbuild.graph",
    "GraphError": "graphbuild.errors",
    "GraphbuildError": "graphbuild.errors",
    "Label": "graphbuild.labels",
    "LabelError": "graphbuild.errors",
    "Origin": "graphbuild.rule",
    "Pattern": "graphbuild.labels",
    "PatternSet": "graphbuild.labels",
    "Phase": "graphbuild.plan.definition",
    "Plan": "graphbuild.plan.definition",
    "PlanError": "graphbuild.errors",
    "QueryError": "graphbuild.errors",
    "Reason": "graphbuild.changes",
    "Registry": "graphbuild.rule",
    "Requirement": "graphbuild.rule",
    "Reversibility": "graphbuild.plan.definition",
    "Rule": "graphbuild.rule",
    "RuleContext": "graphbuild.rule",
    "RuleSettings": "graphbuild.rule",
    "RuleError": "graphbuild.errors",
    "Session": "graphbuild.session",
    "Settings": "graphbuild.workspace",
    "Snapshot": "graphbuild.sources",
    "StaleStateError": "graphbuild.errors",
    "StateError": "graphbuild.errors",
    "Step": "graphbuild.plan.definition",
    "StepSpec": "graphbuild.plan.definition",
    "Target": "graphbuild.rule",
    "TargetState": "graphbuild.fingerprint",
    "TargetType": "graphbuild.rule",
    "UnknownLabelError": "graphbuild.errors",
    "UnresolvedDependencyError": "graphbuild.errors",
    "WorkingTree": "graphbuild.sources",
    "Workspace": "graphbuild.workspace",
    "WorkspaceError": "graphbuild.errors",
    "build_graph": "graphbuild.graph",
    "compare": "graphbuild.changes",
    "fingerprint_graph": "graphbuild.fingerprint",
    "load_environment": "graphbuild.envs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'graphbuild' has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(module), name)
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
