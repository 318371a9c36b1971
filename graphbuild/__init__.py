"""graphbuild: the build and release engine of the FinSight data platform.

>>> # from graphbuild import Session
>>> # with Session.open(".") as s: print(s.changes(since="HEAD~1").affected)
"""

from graphbuild.changes import Changes, Reason, compare
from graphbuild.errors import (
    BuildFileError,
    ConfigError,
    CycleError,
    DeployError,
    FencingError,
    GitError,
    GraphbuildError,
    GraphError,
    LabelError,
    PlanError,
    QueryError,
    RuleError,
    StaleStateError,
    StateError,
    UnknownLabelError,
    UnresolvedDependencyError,
    WorkspaceError,
)
from graphbuild.envs import Environment, load_environment
from graphbuild.fingerprint import Fingerprint, Fingerprinted, TargetState, fingerprint_graph
from graphbuild.graph import Edge, Graph, build_graph
from graphbuild.labels import Label, Pattern, PatternSet
from graphbuild.plan.definition import (
    DeployContext,
    DeployPlanContext,
    DeployProvider,
    Phase,
    Plan,
    Reversibility,
    Step,
    StepSpec,
)
from graphbuild.rule import Digest, Field, Origin, Registry, Requirement, Rule, RuleContext, Target, TargetType
from graphbuild.session import Session
from graphbuild.sources import Analyzer, FactCache, GitRevision, Snapshot, WorkingTree
from graphbuild.workspace import Settings, Workspace

__version__ = "0.1.0"

__all__ = [
    "Analyzer",
    "BuildFileError",
    "Changes",
    "ConfigError",
    "CycleError",
    "DeployContext",
    "DeployError",
    "DeployPlanContext",
    "DeployProvider",
    "Digest",
    "Edge",
    "Environment",
    "FactCache",
    "FencingError",
    "Field",
    "Fingerprint",
    "Fingerprinted",
    "GitError",
    "GitRevision",
    "Graph",
    "GraphError",
    "GraphbuildError",
    "Label",
    "LabelError",
    "Origin",
    "Pattern",
    "PatternSet",
    "Phase",
    "Plan",
    "PlanError",
    "QueryError",
    "Reason",
    "Registry",
    "Requirement",
    "Reversibility",
    "Rule",
    "RuleContext",
    "RuleError",
    "Session",
    "Settings",
    "Snapshot",
    "StaleStateError",
    "StateError",
    "Step",
    "StepSpec",
    "Target",
    "TargetState",
    "TargetType",
    "UnknownLabelError",
    "UnresolvedDependencyError",
    "WorkingTree",
    "Workspace",
    "WorkspaceError",
    "build_graph",
    "compare",
    "fingerprint_graph",
    "load_environment",
]
