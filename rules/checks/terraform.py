"""The checks of ``terraform_module`` targets: formatting, validation (offline only) and static policy.

Three handlers, each ``handler(requests, ctx) -> outcomes`` (see ``graphbuild.run.action``):

``check_fmt``       ``terraform fmt -check -diff`` over the module's files, one CLI call per batch;
                    skipped, with the reason, when the CLI is not on PATH.
``check_validate``  ``terraform init -backend=false`` then ``terraform validate`` in a scratch copy, only
                    when every provider the module needs is already on disk (``[rules.terraform]
                    plugin_dirs``, ``TF_PLUGIN_CACHE_DIR``, the module's own ``.terraform/providers`` or
                    Terraform's implicit local mirror folders); otherwise skipped with the reason, never
                    passed. ``-plugin-dir`` disables every other way of installing a provider and remote
                    module sources are refused first, so nothing here reaches the network.
``check_static``    python-hcl2 reads the files and ``rules.checks.terraform_policy`` checks them:
                    encrypted private buckets, required tags, no plaintext secrets, GitHub OIDC trust
                    scoped to a repository.

The HCL helpers the platform's own tests use (``load``, ``blocks``, ``resources``, ...) are
re-exported here from ``rules.checks.terraform_hcl``.
"""

from __future__ import annotations

import json
import os
import platform
import posixpath
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from graphbuild.run.action import HandlerContext
from rules.checks.terraform_hcl import (
    as_list,
    blocks,
    clean,
    conditions,
    load,
    locals_of,
    one,
    read_module,
    refers_to,
    resources,
    tf_files,
    use_parse_cache,
    variables,
    walk,
)
from rules.checks.terraform_policy import DEFAULT_REQUIRED_TAGS, UNTAGGABLE, Violation, check_module

__all__ = [
    "DEFAULT_REQUIRED_TAGS",
    "UNTAGGABLE",
    "Violation",
    "blocks",
    "check_fmt",
    "check_module",
    "check_static",
    "check_validate",
    "clean",
    "conditions",
    "load",
    "locals_of",
    "one",
    "refers_to",
    "resources",
    "tf_files",
    "variables",
    "walk",
]

FMT_SUFFIXES = (".tf", ".tfvars", ".tftest.hcl")
NO_CLI = "the terraform CLI is not on PATH"
_BUILTIN_PROVIDERS = {"terraform.io/builtin/terraform"}
_ERROR_AT = re.compile(r"on (\S+) line (\d+)")


def _outcome(status: str, summary: str, log: str = "", **artifacts: str) -> dict[str, Any]:
    return {"status": status, "summary": summary, "log": log, "artifacts": artifacts}


def _environment(scratch: Path, **extra: str) -> dict[str, str]:
    """The CLI's environment: no version check, no prompts, and an empty CLI configuration (no credentials,
    no network mirrors) so that only what we pass on the command line can install providers."""
    scratch.mkdir(parents=True, exist_ok=True)
    config = scratch / "terraformrc.empty"
    if not config.exists():
        config.write_text("", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_PLUGIN_CACHE_DIR", "TF_DATA_DIR", "TF_LOG")}
    env.update(CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_INPUT="0", TF_CLI_CONFIG_FILE=str(config), **extra)
    return env


def _run(args: list[str], cwd: Path, env: Mapping[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["terraform", *args], cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout)


def _first_error(text: str, base: str = "") -> str:
    """``file:line: Error summary`` from Terraform's human-readable diagnostics."""
    lines = [line.strip("│╷╵ ").strip() for line in text.splitlines()]
    message = next((line.removeprefix("Error: ") for line in lines if line.startswith("Error: ")), "")
    where = _ERROR_AT.search(text)
    if where:
        file = posixpath.normpath(posixpath.join(base, where[1])) if base else where[1]
        return f"{file}:{where[2]}: {message or 'error'}"
    return message or next((line for line in lines if line), "terraform failed")


# ---------------------------------------------------------------------------------------------
# terraform fmt -check


def _fmt_files(request: Mapping[str, Any]) -> list[str]:
    return [f for f in request.get("files", ()) if f.endswith(FMT_SUFFIXES)]


def _diffs(stdout: str) -> dict[str, tuple[int | None, str]]:
    """{file: (first changed line, its diff)} from ``fmt -diff`` output."""
    out: dict[str, tuple[int | None, list[str]]] = {}
    current: str | None = None
    for line in stdout.splitlines():
        if line.startswith("--- old/"):
            current = line.removeprefix("--- old/")
            out[current] = (None, [line])
            continue
        if current is None:
            continue
        first, text = out[current]
        hunk = re.match(r"@@ -(\d+)", line)
        if hunk and first is None:
            first = int(hunk[1])
        text.append(line)
        out[current] = (first, text)
    return {file: (first, "\n".join(text)) for file, (first, text) in out.items()}


def check_fmt(requests: list[dict], ctx: HandlerContext) -> list[dict]:
    """``terraform fmt -check -diff`` on each module's files (one CLI call for the whole batch)."""
    if shutil.which("terraform") is None:
        return [_outcome("skipped", f"terraform fmt not run: {NO_CLI}") for _ in requests]
    env = _environment(ctx.scratch)
    files = [f for r in requests for f in _fmt_files(r)]
    result = _run(["fmt", "-check", "-diff", "-no-color", *files], ctx.root, env, timeout=120) if files else None
    if result is not None and result.returncode not in (0, 3) and len(requests) > 1:
        return [out for r in requests for out in check_fmt([r], ctx)]  # a syntax error stops fmt: isolate it
    diffs = _diffs(result.stdout) if result is not None else {}
    outcomes = []
    for request in requests:
        mine = _fmt_files(request)
        package = request.get("package", "")
        if not mine:
            outcomes.append(_outcome("skipped", f"terraform fmt not run: {package} has no .tf files"))
        elif result is not None and result.returncode not in (0, 3):
            error = _first_error(result.stderr)
            outcomes.append(_outcome("failed", f"terraform fmt: {error}", result.stderr))
        elif bad := [f for f in mine if f in diffs]:
            first, _ = diffs[bad[0]]
            where = f"{bad[0]}:{first}" if first else bad[0]
            more = f" (and {len(bad) - 1} more file{'s' if len(bad) > 2 else ''})" if len(bad) > 1 else ""
            outcomes.append(_outcome("failed", f"terraform fmt: {where} is not in canonical format{more}; run terraform fmt",
                                     "\n".join(diffs[f][1] for f in bad)))
        else:
            outcomes.append(_outcome("passed", f"terraform fmt: {len(mine)} files of {package} are formatted"))
    return outcomes


# ---------------------------------------------------------------------------------------------
# terraform validate, offline


def _platform() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i386": "386", "i686": "386"}
    return f"{platform.system().lower()}_{arch.get(machine, machine)}"


def _implicit_mirrors() -> list[Path]:
    """Terraform's implicit local provider mirrors on this OS (see 'Provider Installation' in its docs)."""
    home = Path.home()
    data_home = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    data_dirs = (os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":")
    return [home / ".terraform.d" / "plugins", data_home / "terraform" / "plugins",
            *(Path(d) / "terraform" / "plugins" for d in data_dirs if d)]


def _plugin_dirs(root: Path, request: Mapping[str, Any]) -> list[Path]:
    candidates = [root / d if not Path(d).is_absolute() else Path(d) for d in request.get("plugin_dirs", ())]
    if os.environ.get("TF_PLUGIN_CACHE_DIR"):
        candidates.append(Path(os.environ["TF_PLUGIN_CACHE_DIR"]))
    candidates.append(root / request["package"] / ".terraform" / "providers")
    candidates += _implicit_mirrors()
    return [d for d in dict.fromkeys(c.resolve() for c in candidates) if d.is_dir()]  # absolute: init runs elsewhere


def _required_providers(modules: Iterable[Any]) -> set[str]:
    """Source addresses (``registry.terraform.io/hashicorp/aws``) every module in the tree needs."""
    found: set[str] = set()
    for module in modules:
        declared: dict[str, str] = {}
        for terraform in module.terraform:
            for requirements in as_list(terraform.get("required_providers")):
                for local_name, spec in (requirements or {}).items():
                    source = spec.get("source") if isinstance(spec, dict) else None
                    declared[local_name] = str(source or f"hashicorp/{local_name}")
        for block in module.of("resource") + module.of("data") + module.of("provider"):
            local_name = block.type.split("_", 1)[0]
            declared.setdefault(local_name, f"hashicorp/{local_name}")
        for source in declared.values():
            parts = source.lower().split("/")
            address = "/".join(["registry.terraform.io", *parts] if len(parts) == 2 else parts)
            if address not in _BUILTIN_PROVIDERS:
                found.add(address)
    return found


def _is_installed(address: str, dirs: list[Path], target: str) -> bool:
    provider_type = address.rsplit("/", 1)[-1]
    for folder in dirs:
        base = folder / address
        if not base.is_dir():
            continue
        if any((version / target).is_dir() for version in base.iterdir()):  # unpacked layout
            return True
        if any(base.glob(f"terraform-provider-{provider_type}_*_{target}.zip")):  # packed layout
            return True
    return False


def _module_tree(root: Path, package: str, files: Iterable[str]) -> tuple[list[Any], list[str]]:
    """The module and every module it calls (transitively), and the remote module sources found."""
    modules, remote, seen, queue = [], [], {package}, [(package, list(files))]
    while queue:
        folder, selected = queue.pop()
        module = read_module(root, folder, selected or None)
        modules.append(module)
        for block in module.of("module"):
            source = block.body.get("source")
            if isinstance(source, str) and source.startswith(("./", "../")):
                child = posixpath.normpath(posixpath.join(folder, source))
                if child not in seen and (root / child).is_dir():
                    seen.add(child)
                    queue.append((child, []))
            else:
                remote.append(f"{block.file}: module.{block.name} source = {source!r}")
    return modules, remote


def _copy_tree(root: Path, folders: Iterable[str], into: Path) -> None:
    """The folders' own files (not sub-folders, not .terraform) at the same relative paths under ``into``."""
    for folder in folders:
        (into / folder).mkdir(parents=True, exist_ok=True)
        for path in (root / folder).iterdir():
            if path.is_file():
                shutil.copy2(path, into / folder / path.name)
        for reference in re.findall(r"\$\{path\.module\}/([^\"${}*]+)", "".join(
                p.read_text(encoding="utf-8", errors="replace") for p in (root / folder).glob("*.tf"))):
            source = (root / folder / reference).resolve()
            if source.is_file() and source.is_relative_to(root.resolve()):
                relative = source.relative_to(root.resolve())
                (into / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, into / relative)


def _validate_one(request: Mapping[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    package = request["package"]
    tf = [f for f in request.get("sources", ()) if f.endswith(".tf")]
    if not tf:
        return _outcome("skipped", f"terraform validate not run: {package} has no .tf files")
    if shutil.which("terraform") is None:
        return _outcome("skipped", f"terraform validate not run: {NO_CLI}")
    modules, remote = _module_tree(ctx.root, package, tf)
    errors = [f"{file}:{line}: {message}" for m in modules for file, line, message in m.errors]
    if errors:
        return _outcome("failed", f"terraform validate: {errors[0]}", "\n".join(errors))
    if remote:
        return _outcome("skipped", "terraform validate not run: remote module sources need the network: " + remote[0],
                        "\n".join(remote))
    dirs, target = _plugin_dirs(ctx.root, request), _platform()
    missing = sorted(p for p in _required_providers(modules) if not _is_installed(p, dirs, target))
    if missing:
        hosts = sorted({p.split("/", 1)[0] for p in missing})
        names = ", ".join(p.split("/", 1)[1] for p in missing)
        searched = "\n".join(str(d) for d in dirs) or "(no plugin directory exists)"
        return _outcome("skipped", f"providers not installed: terraform init needs {' and '.join(hosts)} ({names} for {target}); "
                        "terraform validate not run", f"provider directories searched:\n{searched}")
    ctx.scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="validate-", dir=ctx.scratch))
    try:
        _copy_tree(ctx.root, [m.package for m in modules], work / "tree")
        empty = work / "no-plugins"
        empty.mkdir()
        env = _environment(work, TF_DATA_DIR=str(work / "data"))
        plugin_args = [f"-plugin-dir={d}" for d in dirs] or [f"-plugin-dir={empty}"]
        cwd = work / "tree" / package
        lockfile = ["-lockfile=readonly"] if (cwd / ".terraform.lock.hcl").exists() else []  # a committed lock is the truth
        init = _run(["init", "-backend=false", "-input=false", "-no-color", *lockfile, *plugin_args], cwd, env)
        if init.returncode != 0:
            error = _first_error(init.stderr, package)
            if re.search(r"provider|registry", init.stderr, re.I):
                return _outcome("skipped", f"providers not installed: terraform init could not install them offline ({error}); "
                                "terraform validate not run", init.stdout + init.stderr)
            return _outcome("failed", f"terraform init: {error}", init.stdout + init.stderr)
        result = _run(["validate", "-json", "-no-color"], cwd, env)
        return _validate_outcome(package, result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _validate_outcome(package: str, result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    try:
        report = json.loads(result.stdout)
    except ValueError:
        return _outcome("failed", f"terraform validate: {_first_error(result.stderr, package)}", result.stdout + result.stderr)
    lines = []
    for diagnostic in report.get("diagnostics", []):
        where = diagnostic.get("range") or {}
        file = posixpath.normpath(posixpath.join(package, where["filename"])) if where.get("filename") else package
        line = (where.get("start") or {}).get("line")
        location = f"{file}:{line}" if line else file
        lines.append(f"{location}: {diagnostic.get('severity', 'error')}: {diagnostic.get('summary', '')}"
                     + (f" — {diagnostic['detail']}" if diagnostic.get("detail") else ""))
    log = "\n".join(lines)
    if report.get("valid"):
        warnings = report.get("warning_count", 0)
        return _outcome("passed", f"terraform validate: {package} is valid" + (f" ({warnings} warnings)" if warnings else ""), log)
    errors = [line for line in lines if ": error: " in line]
    if any(d.get("summary") == "Failed to load plugin schemas" for d in report.get("diagnostics", [])):
        return _outcome("skipped", "providers not usable: the installed provider could not be started "
                        "(Failed to load plugin schemas); terraform validate not run", log)
    first = (errors or lines or ["invalid configuration"])[0].split(" — ")[0].replace(": error: ", ": ", 1)
    more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
    return _outcome("failed", f"terraform validate: {first}{more}", log)


def check_validate(requests: list[dict], ctx: HandlerContext) -> list[dict]:
    """``terraform validate`` where the CLI and the providers are on disk; skipped with the reason otherwise."""
    use_parse_cache(ctx.cache_dir / "terraform-hcl" if ctx.cache_dir else None)
    return [_validate_one(request, ctx) for request in requests]


# ---------------------------------------------------------------------------------------------
# static policy


def check_static(requests: list[dict], ctx: HandlerContext) -> list[dict]:
    """Policy on the parsed HCL of each module: buckets, tags, secrets, OIDC trust."""
    use_parse_cache(ctx.cache_dir / "terraform-hcl" if ctx.cache_dir else None)
    outcomes = []
    for request in requests:
        package = request["package"]
        files = [f for f in request.get("files", ()) if f.endswith((".tf", ".tfvars"))]
        if not files:
            outcomes.append(_outcome("skipped", f"static checks not run: {package} has no .tf files"))
            continue
        module = read_module(ctx.root, package, files)
        violations = check_module(ctx.root, module, request)
        log = "\n".join(map(str, violations))
        if violations:
            more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
            outcomes.append(_outcome("failed", f"terraform static: {violations[0]}{more}", log))
        else:
            resources_ = len(module.of("resource"))
            outcomes.append(_outcome("passed", f"terraform static: {package}: {len(files)} files, {resources_} resources "
                                     "meet the policy (encryption, public access, tags, secrets, OIDC)"))
    return outcomes
