"""Fakes and builders for rule authors' tests (and ours).

- ``MemorySnapshot``: a snapshot of in-memory files, no git needed.
- ``FakeRule``: a kind-free rule (``fake_target``) whose sources, provides and requires are declared.
- ``GitWorkspace``: a throw-away git repository holding a workspace, with commits.
- ``graphbuild.testing.handlers``: the fake check and the fake deploy step behind ``FakeRule``.

>>> snapshot = MemorySnapshot({"a/BUILD": "fake_target()", "a/x.txt": "hello"})
>>> graph = build_graph(snapshot, Settings(), Registry([FakeRule()]))
>>> [str(label) for label in graph.targets]
['//a:a']
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from graphbuild.buildfiles import Declaration
from graphbuild.graph import build_graph
from graphbuild.plan.definition import DeployPlanContext, Phase, Reversibility, StepSpec
from graphbuild.run.action import Action
from graphbuild.rule import Digest, Field, Origin, Registry, Requirement, RuleContext, Target, TargetType
from graphbuild.session import Session
from graphbuild.sources import Analyzer, FactCache, _GitSnapshot, blob_id_of
from graphbuild.values import FrozenDict
from graphbuild.workspace import SETTINGS_FILE, Settings, Workspace

__all__ = ["FakeRule", "GitWorkspace", "MemorySnapshot", "Registry", "Settings", "build_graph"]


class MemorySnapshot(_GitSnapshot):
    """Files held in memory, addressed by the blob ids git would give them."""

    def __init__(self, files: Mapping[str, str | bytes], revision: str = "memory", cache: FactCache | None = None) -> None:
        self._contents = {p: (c.encode() if isinstance(c, str) else c) for p, c in files.items()}
        super().__init__(revision, {p: blob_id_of(c) for p, c in self._contents.items()}, cache or FactCache(None))

    def read(self, path: str) -> bytes:
        return self._contents[path]


def _normalized_text(data: bytes) -> str:
    return " ".join(data.decode("utf-8", "replace").split())


_TEXT = Analyzer("fake-text", "1", _normalized_text)  # a named function: facts are cached by analyzer


class FakeRule:
    """``fake_target(sources=[...], provides=[...], requires=[...], optional=[...], behaviour={...})``.

    Its digest is the whitespace-normalised text of its sources, so tests can make semantic
    no-op edits (extra spaces) as well as real ones.
    """

    name = "fake"
    version = "1"
    target_types = (
        TargetType(
            "fake_target",
            fields=(
                Field("sources", tuple, ("*.txt",)),
                Field("provides", tuple, ()),
                Field("requires", tuple, ()),
                Field("optional", tuple, ()),
                Field("behaviour", Mapping, FrozenDict()),
                Field("batch", str, None),
                Field("timeout", (int, float), 60.0),
                Field("deploy", str, "transformations"),  # the phase of its deploy step; "" for none
                Field("reversibility", str, "pointer-revertible"),
            ),
        ),
    )

    def deploy_steps(self, target: Target, ctx: DeployPlanContext) -> Iterable[StepSpec]:
        """One ``publish`` step (``graphbuild.testing.handlers:fake_deploy``) in the phase named by ``deploy``."""
        phase = target.attributes.get("deploy", "transformations")
        if not phase:
            return ()
        return (
            StepSpec.of(
                "publish",
                Phase[phase.upper()],
                "graphbuild.testing.handlers:fake_deploy",
                {"backend": ctx.backend},
                files=target.sources,
                reversibility=Reversibility(target.attributes.get("reversibility", "pointer-revertible")),
                estimate_s=0.1,
            ),
        )

    def actions(self, target: Target, ctx: RuleContext) -> Iterable[Action]:
        """One ``check`` action running ``graphbuild.testing.handlers:fake_check`` over its sources."""
        yield Action.of(
            target.label,
            "check",
            "graphbuild.testing.handlers:fake_check",
            {"sources": list(target.sources)},
            pool="fake",
            batch=target.attributes.get("batch"),
            timeout_s=target.attributes.get("timeout", 60.0),
        )

    def expand(self, declaration: Declaration, values: FrozenDict, ctx: RuleContext) -> Iterable[Target]:
        origin = Origin(declaration.file, declaration.line, "fake requires")
        requires = [Requirement(s, origin) for s in values["requires"]]
        requires += [Requirement(s, origin, is_optional=True) for s in values["optional"]]
        yield ctx.target(
            declaration,
            values,
            rule=self.name,
            kind="fake_target",
            sources=ctx.glob(declaration, "sources", values),
            attributes={
                "behaviour": values["behaviour"],
                "batch": values["batch"],
                "timeout": values["timeout"],
                "deploy": values["deploy"],
                "reversibility": values["reversibility"],
            },
            provides=values["provides"],
            requires=requires,
        )

    def digest(self, target: Target, ctx: RuleContext) -> Digest:
        return Digest.of({"text": {p: ctx.snapshot.facts(p, _TEXT) for p in target.sources}})


class GitWorkspace:
    """A workspace in a fresh git repository under ``root``, for end-to-end tests."""

    def __init__(self, root: Path, settings: str = "") -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "test@finsight.example")
        self.git("config", "user.name", "graphbuild tests")
        self.git("config", "commit.gpgsign", "false")
        if not (self.root / SETTINGS_FILE).exists():
            self.write({SETTINGS_FILE: settings})

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=self.root, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    def write(self, files: Mapping[str, str | bytes | None]) -> GitWorkspace:
        """Write (or, for None, delete) files relative to the root."""
        for rel, content in files.items():
            path = self.root / rel
            if content is None:
                path.unlink(missing_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode() if isinstance(content, str) else content)
        return self

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text()

    def edit(self, rel: str, old: str, new: str) -> GitWorkspace:
        text = self.read(rel)
        if old not in text:
            raise AssertionError(f"{old!r} is not in {rel}")
        return self.write({rel: text.replace(old, new, 1)})

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def session(self, registry: Registry | None = None, **kwargs: Any) -> Session:
        return Session.of(Workspace.load(self.root), registry=registry, use_cache=kwargs.get("use_cache", True))


