"""``terraform_module`` on the local backend: the environment's stack recorded as the plan to run where providers exist.

Only the root stack of the environment being deployed (``terraform/envs/<env>``) gets a step, ``apply``
(phase INFRASTRUCTURE); modules are deployed through the stacks that source them. Its files are the
stack, every module it sources (transitively) and the files those modules read through
``${path.module}/...`` (the Kafka schemas the Glue registry module registers).

Locally no provider can be fetched, so the handler does what can be done offline on exactly those bytes,
materialized under ``<backend_dir>/tmp``: ``terraform fmt -check`` on every module and, when the
providers are on disk (``TF_PLUGIN_CACHE_DIR``, Terraform's local mirrors), ``terraform validate``,
otherwise recorded as skipped with the reason, never as passed (``rules.checks.terraform``). It then
writes ``terraform/<env>/<fingerprint>.json``: every file with its sha256, the exact commands to run
from a checkout of those files, the variables, and the check results; ``terraform/<env>/current.json``
points at it. A failed check fails the step after the record is written (it names the failure), and
``current.json`` does not move::

    {"commands": ["terraform -chdir=terraform/envs/dev init -input=false",
                  "terraform -chdir=terraform/envs/dev plan -input=false -out=<fingerprint>.tfplan",
                  "terraform -chdir=terraform/envs/dev apply -input=false <fingerprint>.tfplan"], ...}

Reversibility: ``forward-only``. Infrastructure is not moved back by re-pointing: a rollback of the
platform leaves the infrastructure as applied (buckets, topics and roles must outlive the code that
uses them), and going back is a new forward change. A change that deletes a resource the running
environment has is ``irreversible`` (a deleted bucket or key takes its data with it), and its notes
name each one.
"""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Any

from graphbuild.errors import DeployError
from graphbuild.graph import FILE_SYMBOL
from graphbuild.plan.definition import DeployContext, DeployPlanContext, Phase, Reversibility, Step, StepSpec
from graphbuild.values import thaw
from rules.deploy.local import require_local, write_json

__all__ = ["apply", "apply_step", "commands", "is_stack_of", "stack_closure"]

HANDLER = "rules.deploy.terraform_local:apply"
_FMT_SUFFIXES = (".tf", ".tfvars", ".tftest.hcl")
_ESTIMATE_S = 60.0  # a real plan and apply of the platform stack: refresh dominates


def is_stack_of(package: str, env: str) -> bool:
    """Whether ``package`` is the root stack of ``env``: a folder named after it inside an ``envs`` folder.

    >>> is_stack_of("terraform/envs/prod", "prod"), is_stack_of("terraform/modules/prod", "prod")
    (True, False)
    """
    parts = package.split("/")
    return len(parts) >= 2 and parts[-1] == env and parts[-2] == "envs"


def apply_step(target: Any, ctx: DeployPlanContext) -> StepSpec | None:
    """The ``apply`` step of the environment's stack; None for every other module."""
    require_local(ctx, "terraform")
    stack = target.label.package
    if not is_stack_of(stack, ctx.env):
        return None
    graph = ctx.head.graph
    modules = stack_closure(graph, target.label)
    files = _files(graph, modules)
    declared = {k.removeprefix("variable.") for k in _blocks(ctx.head, target.label) if k.startswith("variable.")}
    variables = {k: v for k, v in sorted(thaw(ctx.variables).items()) if k in declared}
    packages = [graph.targets[m].label.package for m in modules]
    request = {
        "env": ctx.env,
        "stack": stack,
        "modules": packages,
        "variables": variables,
        "fmt": {p: [f for f in graph.targets[m].sources if f.endswith(_FMT_SUFFIXES)] for p, m in zip(packages, modules)},
        "sources": list(target.sources),
    }
    destroyed = _destroyed(ctx, modules)
    notes = tuple(f"destroys {block} in {package}" for package, block in destroyed)
    return StepSpec.of(
        "apply",
        Phase.INFRASTRUCTURE,
        HANDLER,
        request,
        files=tuple(files),
        reversibility=Reversibility.IRREVERSIBLE if destroyed else Reversibility.FORWARD_ONLY,
        estimate_s=_ESTIMATE_S,
        notes=notes or (f"terraform plan and apply of {stack} run where the providers are (recorded, not applied, locally)",),
    )


def stack_closure(graph: Any, label: Any) -> list[Any]:
    """The stack and every ``terraform_module`` it sources, directly or through other modules (stack first)."""
    seen, queue = [label], [label]
    while queue:
        for edge in graph.deps[queue.pop(0)]:
            if edge.target not in seen and graph.targets[edge.target].kind == "terraform_module":
                seen.append(edge.target)
                queue.append(edge.target)
    return [label, *sorted(seen[1:])]


def _files(graph: Any, modules: list[Any]) -> list[str]:
    files: set[str] = set()
    for label in modules:
        target = graph.targets[label]
        files.update(target.sources)
        for requirement in target.requires:
            if requirement.symbol.startswith(FILE_SYMBOL):
                read = requirement.symbol.removeprefix(FILE_SYMBOL).rstrip("/")
                files.update(p for p in graph.owners if p == read or p.startswith(read + "/"))
    return sorted(files)


def _blocks(head: Any, label: Any) -> dict[str, Any]:
    state = head.states.get(label) if head is not None else None
    return dict(thaw(state.digest.data).get("Terraform block") or {}) if state is not None else {}


def _destroyed(ctx: DeployPlanContext, modules: list[Any]) -> list[tuple[str, str]]:
    """Resources of the running environment's stack that this version no longer declares."""
    if ctx.base is None:
        return []
    base_stack = modules[0]
    if base_stack not in ctx.base.graph.targets:
        return []
    head_blocks = {ctx.head.graph.targets[m].label.package: _blocks(ctx.head, m) for m in modules}
    gone = []
    for label in stack_closure(ctx.base.graph, base_stack):
        package = ctx.base.graph.targets[label].label.package
        for block in _blocks(ctx.base, label):
            if block.startswith("resource.") and block not in head_blocks.get(package, {}):
                gone.append((package, block))
    return sorted(gone)


def commands(stack: str, fingerprint: str, variables: dict[str, Any]) -> list[str]:
    """The commands that apply this version, run from a checkout of the step's files.

    >>> commands("terraform/envs/dev", "f1", {"region": "eu-west-1"})[1]
    'terraform -chdir=terraform/envs/dev plan -input=false -out=f1.tfplan -var=region=eu-west-1'
    """
    flags = [f"-var={k}={_hcl(v)}" for k, v in sorted(variables.items())]
    chdir = f"-chdir={stack}"
    return [
        shlex.join(["terraform", chdir, "init", "-input=false"]),
        shlex.join(["terraform", chdir, "plan", "-input=false", f"-out={fingerprint}.tfplan", *flags]),
        shlex.join(["terraform", chdir, "apply", "-input=false", f"{fingerprint}.tfplan"]),
    ]


def _hcl(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


# --------------------------------------------------------------------------------------------------
# The handler


def apply(step: Step, ctx: DeployContext) -> str:
    """Check the stack offline and record the plan to run where providers exist (``retire``: the destroy plan)."""
    request = thaw(step.request)
    stack, env = request["stack"], request["env"]
    folder = ctx.backend_dir / "terraform" / env
    files = {path: digest for path, digest in sorted(step.files.items())}
    if step.operation == "retire":
        record = {"env": env, "stack": stack, "fingerprint": step.fingerprint, "operation": "destroy", "files": files,
                  "commands": [shlex.join(["terraform", f"-chdir={stack}", "init", "-input=false"]),
                               shlex.join(["terraform", f"-chdir={stack}", "destroy", "-input=false"])]}
        write_json(folder / f"{step.fingerprint}.destroy.json", record)
        with ctx.fenced(step):
            (folder / "current.json").unlink(missing_ok=True)
        return f"{stack}: left the workspace; destroy plan recorded in terraform/{env}/{step.fingerprint}.destroy.json (not run)"
    checks = _checks(step, ctx, request)
    failed = [f"{name}: {c['summary']}" for name, c in checks.items() if c["status"] == "failed"]
    record = {
        "env": env,
        "stack": stack,
        "fingerprint": step.fingerprint,
        "operation": "apply",
        "files": files,
        "commands": commands(stack, step.fingerprint, request["variables"]),
        "variables": request["variables"],
        "checks": checks,
        "status": "failed" if failed else "ready",
    }
    name = f"{step.fingerprint}.json"
    write_json(folder / name, record)
    if failed:
        raise DeployError(f"{stack}: {failed[0]}", file=f"terraform/{env}/{name}",
                          fix="fix the stack and plan again; the record lists every check")
    with ctx.fenced(step):  # the visible switch: refused if another deploy took the lease over
        write_json(folder / "current.json", {"env": env, "stack": stack, "fingerprint": step.fingerprint, "record": name})
    validate = checks["validate"]
    return f"{stack}: plan recorded in terraform/{env}/{name} (fmt passed; validate {validate['status']}: {validate['summary']})"


def _checks(step: Step, ctx: DeployContext, request: dict[str, Any]) -> dict[str, dict[str, str]]:
    """``terraform fmt -check`` of every module and ``terraform validate`` of the stack, on the step's bytes."""
    from graphbuild.run.action import HandlerContext
    from rules.checks.terraform import check_fmt, check_validate

    scratch = ctx.backend_dir / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="terraform-", dir=scratch))
    try:
        for path, digest in sorted(step.files.items()):  # a throw-away tree: plain writes, no fsync
            (work / "tree" / path).parent.mkdir(parents=True, exist_ok=True)
            (work / "tree" / path).write_bytes(ctx.read_blob(digest))
        handler_ctx = HandlerContext(work / "tree", work / "scratch")
        fmt_requests = [{"package": p, "files": fs} for p, fs in request["fmt"].items() if fs]
        fmt = check_fmt(fmt_requests, handler_ctx) if fmt_requests else []
        (validate,) = check_validate([{"package": request["stack"], "sources": request["sources"], "plugin_dirs": []}],
                                     handler_ctx)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = {f"fmt {r['package']}": {"status": o["status"], "summary": o["summary"]} for r, o in zip(fmt_requests, fmt)}
    out["validate"] = {"status": validate["status"], "summary": validate["summary"]}
    return out
