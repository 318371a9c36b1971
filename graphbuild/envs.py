"""Environments: ``environments/<name>.toml`` validated strictly, and who may approve their plans.

An environment names the backend of each rule that deploys, where its state lives, who must approve
a plan before it is deployed, the environment it promotes from, variables, and secret *references*
(resolved only when a step runs)::

    description = "Production."
    production = true
    promote_from = "staging"
    state = "state"            # the state store: a folder below the workspace root, or "s3://bucket/prefix"
    backend_dir = "local/prod" # where the embedded local backends keep the environment

    [backends]
    warehouse = "local"        # rule name = backend

    [approvals]
    required = 2
    groups = ["data-platform-leads"]
    author_may_approve = false # never true for a production environment

    [variables]
    backfill_end = "2026-11-26"

    [secrets]
    warehouse = "secret:aws-sm:finsight/prod/warehouse"

Groups and their members live in ``environments/groups.toml`` (``[groups] name = ["who", ...]``).

Plans, approvals and deploys read these files from git objects at the plan's commit
(``revision=``), never from the working tree, so an uncommitted edit never changes who must approve.
Who must approve one environment's plans is a ``Policy``; a plan records its digest.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import subprocess
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from graphbuild.errors import ConfigError
from graphbuild.secrets import SecretRef, resolve
from graphbuild.state.stores import S3_LOCATION, check_s3_location
from graphbuild.values import FrozenDict, canonical_json, freeze, thaw

__all__ = [
    "Approvals",
    "AuditAnchor",
    "Environment",
    "EnvironmentSettings",
    "Health",
    "Policy",
    "dirty_environment_files",
    "environment_names",
    "load_environment",
    "load_groups",
    "load_policy",
    "policy_of",
    "revision_of",
    "ENVIRONMENTS_DIR",
]

ENVIRONMENTS_DIR = "environments"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_APPROVAL_KEYS = frozenset({"required", "groups", "author_may_approve"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)




class Approvals(_Strict):
    required: int = Field(default=0, ge=0, description="Distinct approvals a plan needs before it is deployed.")
    groups: tuple[str, ...] = Field(default=(), description="Groups (environments/groups.toml) whose members may approve.")
    author_may_approve: bool = Field(default=False, description="Whether the plan's author counts as an approver.")


class AuditAnchor(_Strict):
    """``[audit]``: where audit records are anchored outside the deployer's reach (graphbuild.state.anchor).

    Public keys only: the signing key is a secret reference, resolved when a digest is signed.
    """

    bucket: str = Field(description="The Object Lock (COMPLIANCE) bucket and prefix: s3://bucket/prefix.")
    retention_days: int = Field(default=2557, ge=1, description="How long S3 keeps each anchored object (2557: 7 years, SOX).")
    digest_every: int = Field(default=100, ge=1, description="A signed digest file every this many records (and after each deploy).")
    signing_key: str | None = Field(default=None, description="Secret reference to the ed25519 private key (PEM) that signs digests.")
    key_id: str | None = Field(default=None, description="The id of the signing key: its public key is public_keys[key_id].")
    public_keys: dict[str, str] = Field(default_factory=dict, description="Key id -> base64 ed25519 public key; verify trusts only these.")
    region: str | None = Field(default=None, description="The bucket's AWS region (default: the process's).")

    @field_validator("bucket")
    @classmethod
    def _s3(cls, value: str) -> str:
        return check_s3_location(value)

    @field_validator("signing_key")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        if value is not None:
            SecretRef.parse(value)  # a pasted private key is refused here, never echoed
        return value

    @model_validator(mode="after")
    def _key(self) -> AuditAnchor:
        if (self.signing_key is None) != (self.key_id is None):
            raise ValueError("audit.signing_key and audit.key_id go together")
        if self.key_id is not None and self.key_id not in self.public_keys:
            raise ValueError(f"audit.key_id {self.key_id!r} has no public key under [audit.public_keys]")
        return self


class Health(_Strict):
    """``[health]``: the post-deploy health checks (graphbuild.plan.health) and what happens when they fail."""

    max_row_count_drop: float = Field(default=0.2, ge=0, le=1, description="Largest fall of a model's row count against the previous version (0.2: 20 %).")
    max_null_rate_increase: float = Field(default=0.05, ge=0, le=1, description="Largest rise of a column's null rate against the previous version.")
    max_staleness_hours: float | None = Field(default=None, gt=0, description="Oldest a model's newest timestamp may be (unset: reported, not checked).")
    after_deploy: bool = Field(default=False, description="Run the health checks after every successful deploy (audited; exit 1 when unhealthy).")
    auto_rollback: bool = Field(default=False, description="After a deploy whose health checks fail, roll back to the previous plan (audited).")
    cloudwatch: bool = Field(default=False, description="Publish health metrics to CloudWatch (namespace graphbuild; dimensions env, target, check).")
    region: str | None = Field(default=None, description="CloudWatch's AWS region (default: the process's).")


class EnvironmentSettings(_Strict):
    description: str = ""
    production: bool = Field(default=False, description="A production environment: its author never approves.")
    promote_from: str | None = Field(default=None, description="Only fingerprints deployed there may be deployed here.")
    state: str = Field(default="state", description="The state store: a folder relative to the workspace root, or s3://bucket/prefix.")
    state_region: str | None = Field(default=None, description="The S3 state bucket's region (default: the AWS configuration's).")
    state_endpoint: str | None = Field(default=None, description="An S3-compatible endpoint URL for the state (default: AWS_ENDPOINT_URL or AWS's).")
    backend_dir: str = Field(description="The folder of the embedded local backends of this environment.")
    backends: dict[str, str] = Field(default_factory=dict, description="Backend per rule; a rule not listed uses 'local'.")
    approvals: Approvals = Approvals()
    variables: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict, description="Name -> secret reference (never a value).")
    audit: AuditAnchor | None = Field(default=None, description="Anchor the audit trail in an Object Lock bucket.")
    local_secrets: bool = Field(default=True, description="Read secret: references from GRAPHBUILD_SECRET_* variables "
                                "(embedded local backends); false: from their store (Secrets Manager), when a step needs them.")
    backend_sections: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Backend name ('-' as '_') -> its top-level table, validated by that backend at plan time.")
    health: Health = Health()

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        if value.startswith("s3://"):
            if not re.fullmatch(S3_LOCATION, value):
                raise ValueError("must be s3://bucket/prefix (a bucket name of lower-case letters, digits, '.' and '-')")
            return value
        if Path(value).is_absolute() or ".." in Path(value).parts:
            raise ValueError("must be a folder below the workspace root (no absolute path, no ..), or s3://bucket/prefix")
        return value

    @field_validator("state_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and (not re.fullmatch(r"https?://[^\s/@]+(/[^\s@]*)?", value)):
            raise ValueError("must be an http(s):// URL without credentials in it")
        return value

    @field_validator("backend_dir")
    @classmethod
    def _relative(cls, value: str) -> str:
        if value.startswith("s3://"):
            raise ValueError("must be a folder below the workspace root, not an s3:// location")
        if Path(value).is_absolute() or ".." in Path(value).parts:
            raise ValueError("must be a folder below the workspace root (no absolute path, no ..)")
        return value

    @field_validator("secrets")
    @classmethod
    def _references(cls, value: dict[str, str]) -> dict[str, str]:
        for name, ref in value.items():
            SecretRef.parse(ref)  # raises with the fix; a literal value is refused here
        return value

    @model_validator(mode="after")
    def _production(self) -> EnvironmentSettings:
        if self.production and self.approvals.author_may_approve:
            raise ValueError("approvals.author_may_approve: a production environment's author never approves its own plan")
        return self

    @model_validator(mode="before")
    @classmethod
    def _backend_tables(cls, data: Any) -> Any:
        """Move the top-level table of each backend named in ``[backends]`` into ``backend_sections``: that
        backend validates it when a plan is made. Any other unknown table is an error naming the allowed ones."""
        if not isinstance(data, dict):
            return data
        backends = data.get("backends")
        names = {str(b).replace("-", "_") for b in backends.values()} if isinstance(backends, dict) else set()
        known = set(cls.model_fields) - {"backend_sections"}
        moved = {key: value for key, value in data.items() if key in names - known and isinstance(value, dict)}
        for key, value in data.items():
            if key not in known and key not in moved and (isinstance(value, dict) or key == "backend_sections"):
                raise ValueError(f"{key}: {_unknown_table(key, sorted(names - known), known)}")
        return {**{k: v for k, v in data.items() if k not in moved}, "backend_sections": moved} if moved else data


def _unknown_table(key: str, sections: list[str], known: set[str]) -> str:
    """Why a top-level table is refused: the backend sections this file may hold, and a close name."""
    allowed = f"backend sections allowed here: {', '.join(f'[{s}]' for s in sections)}" if sections else "no backend section is allowed here"
    close = difflib.get_close_matches(key, [*sections, *sorted(known)], n=1)
    hint = f"; did you mean [{close[0]}]?" if close else ""
    return (f"not a setting, and no backend in [backends] reads a [{key}] table ({allowed}; a backend's table "
            f"is named after it, '-' written '_'){hint}")


@dataclass(frozen=True)
class Environment:
    """One loaded environment: its name, settings and where its folders are."""

    name: str
    settings: EnvironmentSettings
    root: Path  # the workspace root
    file: str  # workspace-relative path of its settings file
    revision: str | None = None  # the commit id it was read from, a ref such as HEAD resolved (None: the working tree)
    text: str = field(default="", compare=False, repr=False)  # the file's text: a backend's settings error names its line

    @property
    def state_dir(self) -> Path:
        return self.root / self.settings.state

    @property
    def backend_dir(self) -> Path:
        return self.root / self.settings.backend_dir

    @property
    def variables(self) -> FrozenDict:
        return freeze(self.settings.variables)

    def backend(self, rule: str) -> str:
        return self.settings.backends.get(rule, "local")

    def backend_settings(self, backend: str) -> FrozenDict:
        """The top-level table named after ``backend`` (``a-b``: ``[a_b]``), frozen and as written, or empty;
        the backend validates it when a plan is made."""
        return freeze(self.settings.backend_sections.get(backend.replace("-", "_"), {}))

    def secret(self, name: str, *, environ: Any = None) -> str:
        """Resolve one named secret now: from its store, or with ``local_secrets`` from the process environment."""
        ref = self.settings.secrets.get(name)
        if ref is None:
            raise ConfigError(
                f"environment {self.name} has no secret named {name!r}",
                file=self.file,
                fix=f"add it under [secrets] as a reference, e.g. {name} = \"secret:aws-sm:finsight/{self.name}/{name}\"",
            )
        return resolve(SecretRef.parse(ref, file=self.file), local=self.settings.local_secrets, environ=environ)


def load_environment(root: Path, name: str, *, revision: str | None = None) -> Environment:
    """Read and validate ``environments/<name>.toml``; errors name the file, the line and the fix.

    With ``revision`` (a commit, or a ref such as ``HEAD``) the file is read from git objects at that
    commit, never the working tree, and ``Environment.revision`` is the commit id it resolved to: what
    the caller read stays named even if the ref moves.
    """
    if not _NAME.match(name):
        raise ConfigError(f"{name!r} is not an environment name", fix="use lower-case letters, digits and dashes")
    rel = f"{ENVIRONMENTS_DIR}/{name}.toml"
    commit = None if revision is None else _commit_of(root, revision)
    files = _files(root, commit)
    if rel not in files:
        known = sorted(Path(f).stem for f in files if Path(f).stem != "groups")
        at = f" at commit {revision[:12]}" if revision else ""
        raise ConfigError(f"no environment {name!r}{at}", file=rel, fix=f"pick one of {', '.join(known) or 'none'}, or add (and commit) {rel}")
    text = files[rel]()
    settings = _validate(EnvironmentSettings, _toml(rel, text), rel, text)
    if settings.promote_from is not None and settings.promote_from == name:
        raise ConfigError("an environment cannot promote from itself", file=rel, line=_line_of(text, "promote_from"))
    return Environment(name, settings, root, rel, commit, text=text)


class _Groups(_Strict):
    groups: dict[str, tuple[str, ...]] = Field(default_factory=dict)


def load_groups(root: Path, *, revision: str | None = None) -> dict[str, frozenset[str]]:
    """Approver groups from ``environments/groups.toml`` (absent: no groups), at ``revision`` when given."""
    rel = f"{ENVIRONMENTS_DIR}/groups.toml"
    files = _files(root, revision)
    if rel not in files:
        return {}
    text = files[rel]()
    groups = _validate(_Groups, _toml(rel, text), rel, text)
    return {name: frozenset(members) for name, members in groups.groups.items()}


def environment_names(root: Path, *, revision: str | None = None) -> tuple[str, ...]:
    """The environments defined under ``environments/`` (at ``revision`` when given), sorted."""
    return tuple(sorted(Path(rel).stem for rel in _files(root, revision) if Path(rel).stem != "groups"))


def revision_of(commit: str) -> str:
    """The git commit a plan's ``commit`` names (a dirty working tree's plan names the commit it started from)."""
    return commit.removesuffix("-dirty")


def dirty_environment_files(root: Path) -> tuple[str, ...]:
    """Files under ``environments/`` whose working-tree content differs from HEAD (ignored by plans and deploys)."""
    done = subprocess.run(["git", "-C", str(root), "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ENVIRONMENTS_DIR],
                          capture_output=True, check=False)
    if done.returncode != 0:
        return ()
    return tuple(sorted(entry[3:].decode("utf-8", "surrogateescape") for entry in done.stdout.split(b"\0") if len(entry) > 3))


def _commit_of(root: Path, revision: str) -> str:
    """The commit id ``revision`` names (a commit id, or a ref such as HEAD)."""
    _check_revision(revision)
    return _git(root, revision, "rev-parse", "--verify", f"{revision}^{{commit}}").decode().strip()


def _check_revision(revision: str) -> None:
    if revision.startswith("-") or not revision.strip():  # a crafted plan's commit must never become a git option
        raise ConfigError(f"{revision!r} is not a commit", fix="make a new plan: its commit is a git commit id")


def _files(root: Path, revision: str | None) -> dict[str, Any]:
    """``environments/*.toml`` (workspace-relative) -> a function returning its text, in the tree or at ``revision``."""
    if revision is None:
        folder = root / ENVIRONMENTS_DIR
        found = sorted(folder.glob("*.toml")) if folder.is_dir() else []
        return {f"{ENVIRONMENTS_DIR}/{p.name}": p.read_text for p in found if p.is_file()}
    _check_revision(revision)
    listing = _git(root, revision, "ls-tree", "-z", f"{revision}^{{commit}}", "--", f"{ENVIRONMENTS_DIR}/")
    files: dict[str, Any] = {}
    for entry in listing.split(b"\0"):
        meta, _, path = entry.decode("utf-8", "surrogateescape").partition("\t")
        if meta.split(" ")[1:2] == ["blob"] and path.endswith(".toml") and "/" not in path.removeprefix(f"{ENVIRONMENTS_DIR}/"):
            blob = meta.split(" ")[2]
            files[path] = lambda blob=blob: _git(root, revision, "cat-file", "blob", blob).decode()
    return files


def _git(root: Path, revision: str, *args: str) -> bytes:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False)
    if done.returncode != 0:
        raise ConfigError(
            f"cannot read {ENVIRONMENTS_DIR}/ at commit {revision[:12]}: {done.stderr.decode(errors='replace').strip() or 'git failed'}",
            fix="environments are read from the plan's commit: commit them, and fetch that commit (actions/checkout fetch-depth: 0)",
        )
    return done.stdout


@dataclass(frozen=True, slots=True)
class Policy:
    """Who must approve one environment's plans: its ``[approvals]``, the members of the groups they
    name, whether it is production and where it promotes from. Its ``digest`` is what a plan records.

    >>> Policy("prod", True, "staging", 2, ("leads",), False, freeze({"leads": ["dana"]})).eligible("dana", author="li")
    """

    env: str
    production: bool
    promote_from: str | None
    required: int
    groups: tuple[str, ...]
    author_may_approve: bool
    members: FrozenDict  # group -> sorted members, for every group in ``groups``

    def content(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "production": self.production,
            "promote_from": self.promote_from,
            "required": self.required,
            "groups": list(self.groups),
            "author_may_approve": self.author_may_approve,
            "members": thaw(self.members),
        }

    def to_json(self) -> bytes:
        """The canonical document; its sha256 is ``digest`` (so it is stored as a content-addressed blob)."""
        return canonical_json(self.content()).encode()

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_json()).hexdigest()

    @classmethod
    def from_json(cls, data: bytes) -> Policy:
        body = json.loads(data)
        return cls(body["env"], bool(body["production"]), body["promote_from"], int(body["required"]), tuple(body["groups"]),
                   bool(body["author_may_approve"]), freeze({g: list(m) for g, m in body["members"].items()}))

    def eligible(self, who: str, *, author: str) -> str | None:
        """Why ``who`` may not approve a plan written by ``author`` under this policy, or None."""
        if who == author and not self.author_may_approve:
            return f"{who} wrote this plan; in {self.env} the author never approves their own plan"
        if self.groups and not any(who in self.members.get(group, ()) for group in self.groups):
            return f"{who} is in none of the approver groups of {self.env}: {', '.join(self.groups)} (environments/groups.toml)"
        return None

    def changes(self, before: Policy) -> tuple[str, ...]:
        """What differs from ``before``, for people: ``approvals.required: 2 -> 0``, ``group leads: + mallory``."""
        old = before.content()
        found = [f"{'approvals.' if key in _APPROVAL_KEYS else ''}{key}: {old[key]} -> {value}"
                 for key, value in self.content().items() if key != "members" and old[key] != value]
        for group in sorted(set(self.members) | set(before.members)):
            added = sorted(set(self.members.get(group, ())) - set(before.members.get(group, ())))
            removed = sorted(set(before.members.get(group, ())) - set(self.members.get(group, ())))
            found += [f"group {group}: + {who}" for who in added] + [f"group {group}: - {who}" for who in removed]
        return tuple(found)


def policy_of(env: Environment, groups: Mapping[str, frozenset[str]]) -> Policy:
    """The approval policy ``env`` and ``groups`` define."""
    rules = env.settings.approvals
    members = {group: sorted(groups.get(group, frozenset())) for group in rules.groups}
    return Policy(env.name, env.settings.production, env.settings.promote_from, rules.required, tuple(rules.groups),
                  rules.author_may_approve, freeze(members))


def load_policy(root: Path, name: str, revision: str) -> Policy:
    """The approval policy of environment ``name`` as committed at ``revision`` (git objects only)."""
    env = load_environment(root, name, revision=revision)
    return policy_of(env, load_groups(root, revision=env.revision))  # the same commit, even if a ref moved


def _toml(rel: str, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+), column (\d+)", str(exc))
        line, col = (int(match[1]), int(match[2])) if match else (None, None)
        raise ConfigError(f"invalid TOML: {exc}", file=rel, line=line, col=col, fix="fix the TOML syntax") from None


def _validate(model: type[BaseModel], data: dict[str, Any], rel: str, text: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        loc = [str(p) for p in first["loc"]] or message.partition(":")[0].split(".")  # a model check names its key
        key = ".".join(loc)
        message = message.removeprefix(f"{key}: ")
        last = loc[-1]
        raise ConfigError(f"{key}: {message}", file=rel, line=_line_of(text, last), fix="see docs/deploy.md") from None
    except ConfigError as exc:  # a secret reference refused inside a validator
        exc.file = rel
        raise


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if key and re.match(rf"\s*(\[\s*{re.escape(key)}\s*[\].]|{re.escape(key)}\s*=)", line):  # a key, or a table's header
            return number
    return None
