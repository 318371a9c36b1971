"""Terraform read with python-hcl2, for the checks and the platform's own tests.

python-hcl2 keeps the quotes of string literals and marks blocks with ``__is_block__``; ``clean``
drops both, so a literal reads ``"eu-west-1"`` and an expression ``"${var.kms_key_arn}"``. A nested
block comes back as a list of dicts. Parsing is memoized by file content (never by path), so a
worker that checks many modules parses each distinct file once and never sees a stale tree.

>>> blocks(Path("terraform/modules/kms"), "resource")  # doctest: +SKIP
[('aws_kms_key', 'this', {...}), ('aws_kms_alias', 'this', {...})]
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from rules.digests.structured import walk

__all__ = [
    "Block",
    "Module",
    "as_list",
    "blocks",
    "clean",
    "conditions",
    "is_expression",
    "is_literal",
    "load",
    "locals_of",
    "local_module_sources",
    "one",
    "parse_hcl",
    "read_module",
    "use_parse_cache",
    "refers_to",
    "resources",
    "tf_files",
    "variables",
    "walk",
]


# ---------------------------------------------------------------------------------------------
# parsed HCL, as plain values


def clean(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals and marks blocks; drop both."""
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items() if not k.startswith("__")}  # __is_block__, __comments__
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


# stored trees are keyed by the parser's version and this module's code (a changed `clean` disowns them)
_PARSER = f"{metadata.version('python-hcl2')}:{hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]}"
_disk: Any = None  # this worker's persistent parse cache (``use_parse_cache``)


def use_parse_cache(directory: Path | None) -> None:
    """Keep parsed trees across runs in ``directory`` (a handler's ``ctx.cache_dir``): python-hcl2's parser
    takes milliseconds per file, and ``validate`` (whose skips are not cached results) reads every module
    tree on every run."""
    global _disk
    if directory is None or (_disk is not None and _disk.directory == str(directory)):
        return
    import diskcache

    _disk = diskcache.Cache(str(directory), size_limit=256 * 1024 * 1024)


@lru_cache(maxsize=4096)
def parse_hcl(text: str) -> dict[str, Any]:
    """The cleaned tree of one HCL text (shared between callers: do not mutate it); parse errors raise."""
    import hcl2

    key = None
    if _disk is not None:
        key = f"{_PARSER}:{hashlib.sha256(text.encode()).hexdigest()}"
        found = _disk.get(key)
        if found is not None:
            return found
    tree = clean(hcl2.loads(text))
    if key is not None:
        _disk.set(key, tree)
    return tree


def load(path: Path) -> dict[str, Any]:
    return parse_hcl(path.read_text(encoding="utf-8"))


def tf_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.tf"))


def blocks(folder: Path, kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(type, name, body) of every resource or data block, or (name, "", body) of module/variable/output."""
    for path in tf_files(folder):
        for entry in load(path).get(kind, []):
            for first, body in entry.items():
                if kind in {"resource", "data"}:
                    for name, inner in body.items():
                        yield first, name, inner
                else:
                    yield first, "", body


def resources(folder: Path, type_: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    return [r for r in blocks(folder, "resource") if type_ is None or r[0] == type_]


def one(value: Any) -> Any:
    """A nested block comes back as a list of one dict."""
    if isinstance(value, list):
        if len(value) != 1:
            raise ValueError(f"expected one block, found {len(value)}: {value!r}")
        return value[0]
    return value


def as_list(value: Any) -> list[Any]:
    """A block or attribute that may be absent, single or repeated, as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def locals_of(folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in tf_files(folder):
        for entry in load(path).get("locals", []):
            out.update(entry)
    return out


def variables(folder: Path) -> dict[str, dict[str, Any]]:
    return {name: body for name, _, body in blocks(folder, "variable")}


def conditions(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ``condition { test, variable, values }`` of a policy document, at any depth."""
    return [node for node in walk(body) if isinstance(node, dict) and {"test", "variable", "values"} <= node.keys()]


def refers_to(sub: Mapping[str, Any], address: str) -> bool:
    """Does an S3 sub-resource configure ``address`` (``aws_s3_bucket.<name>``), directly or via for_each over it?"""
    named = re.compile(re.escape(address) + r"\b")
    bucket = str(sub.get("bucket", ""))
    if named.search(bucket):
        return True
    return bool(re.fullmatch(r"\$\{each\.value\.(id|bucket)\}", bucket)) and bool(named.search(str(sub.get("for_each", ""))))


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def is_literal(value: Any) -> bool:
    """A non-empty string written in the source, not computed (no ``${...}``)."""
    return isinstance(value, str) and value.strip() != "" and "${" not in value


# ---------------------------------------------------------------------------------------------
# one module folder, with where each block is written


@dataclass(frozen=True, slots=True)
class Block:
    """One top-level block: ``resource "type" "name"``, ``data``, ``module``, ``variable``, ``provider``."""

    kind: str
    type: str
    name: str
    body: Mapping[str, Any]
    file: str  # workspace-relative
    line: int | None

    @property
    def address(self) -> str:
        match self.kind:
            case "resource":
                return f"{self.type}.{self.name}"
            case "data":
                return f"data.{self.type}.{self.name}"
            case "module":
                return f"module.{self.name}"
            case "variable":
                return f"var.{self.name}"
            case "provider":
                return f"provider.{self.type}" + (f".{self.name}" if self.name else "")
            case _:
                return f"{self.kind}.{self.name}"


@dataclass(slots=True)
class Module:
    """The parsed files of one folder (a module or a root stack)."""

    package: str
    blocks: list[Block] = field(default_factory=list)
    locals: dict[str, Any] = field(default_factory=dict)
    local_lines: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)  # the `terraform {}` blocks
    tfvars: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    errors: list[tuple[str, int | None, str]] = field(default_factory=list)  # (file, line, message)

    def of(self, kind: str, type_: str | None = None) -> list[Block]:
        return [b for b in self.blocks if b.kind == kind and (type_ is None or b.type == type_)]

    def variable(self, name: str) -> Block | None:
        return next((b for b in self.of("variable") if b.name == name), None)

    def attribute_line(self, block: Block, key: str) -> int | None:
        """The line of ``key =`` inside a block (the block's own line when not found)."""
        text = self.texts.get(block.file, "")
        start = _offset_of_line(text, block.line or 1)
        found = re.compile(rf'^[ \t]*"?{re.escape(key)}"?\s*=', re.M).search(text, start)
        return text.count("\n", 0, found.start()) + 1 if found else block.line


    def line_containing(self, block: Block, needle: str) -> int | None:
        """The first line at or after the block's start that contains ``needle`` (the block's line if none)."""
        text = self.texts.get(block.file, "")
        found = text.find(needle, _offset_of_line(text, block.line or 1))
        return text.count("\n", 0, found) + 1 if found >= 0 else block.line


def _offset_of_line(text: str, line: int) -> int:
    offset = 0
    for _ in range(line - 1):
        offset = text.find("\n", offset) + 1
        if offset == 0:
            return len(text)
    return offset


def _line_of(text: str, kind: str, *labels: str) -> int | None:
    pattern = r"^[ \t]*" + re.escape(kind) + "".join(rf'\s+"?{re.escape(label)}"?' for label in labels) + r"\s*\{"
    found = re.compile(pattern, re.M).search(text)
    return text.count("\n", 0, found.start()) + 1 if found else None


_ERROR_LINE = re.compile(r"line (\d+)")


def read_module(root: Path, package: str, files: Iterable[str] | None = None) -> Module:
    """Parse the ``.tf`` and ``.tfvars`` files of ``package`` (all of the folder's when ``files`` is None)."""
    if files is None:
        folder = root / package
        files = [f"{package}/{p.name}" for p in sorted(folder.glob("*")) if p.suffix in (".tf", ".tfvars")]
    module = Module(package)
    for rel in sorted(files):
        if not rel.endswith((".tf", ".tfvars")):
            continue
        try:
            text = (root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            module.errors.append((rel, None, f"cannot read: {exc}"))
            continue
        module.texts[rel] = text
        try:
            tree = parse_hcl(text)
        except Exception as exc:  # python-hcl2 raises lark errors of several types
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            line = _ERROR_LINE.search(message)
            module.errors.append((rel, int(line[1]) if line else None, message))
            continue
        if rel.endswith(".tfvars"):
            module.tfvars.append((rel, tree))
            continue
        _add_blocks(module, rel, text, tree)
    return module


def _add_blocks(module: Module, rel: str, text: str, tree: Mapping[str, Any]) -> None:
    for kind, entries in tree.items():
        for entry in as_list(entries):
            if not isinstance(entry, dict):
                continue
            if kind == "locals":
                for name, value in entry.items():
                    module.locals[name] = value
                    found = re.compile(rf"^[ \t]*{re.escape(name)}\s*=", re.M).search(text)
                    module.local_lines[name] = (rel, text.count("\n", 0, found.start()) + 1 if found else None)
            elif kind == "terraform":
                module.terraform.append(entry)
            elif kind in ("resource", "data"):
                for type_, named in entry.items():
                    for name, body in (named or {}).items():
                        module.blocks.append(Block(kind, type_, name, body or {}, rel, _line_of(text, kind, type_, name)))
            elif kind == "provider":
                for type_, body in entry.items():
                    alias = str(body.get("alias", "")) if isinstance(body, dict) else ""
                    module.blocks.append(Block(kind, type_, alias, body or {}, rel, _line_of(text, kind, type_)))
            else:  # module, variable, output
                for name, body in entry.items():
                    module.blocks.append(Block(kind, "", name, body or {}, rel, _line_of(text, kind, name)))


def local_module_sources(module: Module) -> dict[str, str]:
    """``{module call name: workspace-relative folder}`` of the calls with a local ``source``."""
    out: dict[str, str] = {}
    for block in module.of("module"):
        source = block.body.get("source")
        if isinstance(source, str) and source.startswith(("./", "../")):
            out[block.name] = posixpath.normpath(posixpath.join(module.package, source))
    return out
