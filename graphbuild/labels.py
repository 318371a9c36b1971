"""Labels (``//pkg/path:name``) and target patterns.

>>> Label.parse("//warehouse:orders")
Label(package='warehouse', name='orders')
>>> str(Label.parse("//infra/modules/audit_bucket"))
'//infra/modules/audit_bucket:audit_bucket'
>>> Pattern.parse("//pipelines/...").matches(Label.parse("//pipelines/ingestion:payments"))
True
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from graphbuild.errors import LabelError, UnknownLabelError
from graphbuild.values import Compact

__all__ = ["Label", "Pattern", "PatternSet", "did_you_mean", "select"]

_PACKAGE = re.compile(r"^(?:[A-Za-z0-9_.+-]+(?:/[A-Za-z0-9_.+-]+)*)?$")
_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")
_DOT_PARTS = frozenset({".", ".."})  # a path component that would leave or alias a folder (artifacts, deploy dirs)


def _has_dot_part(path: str) -> bool:
    return any(part in _DOT_PARTS for part in path.split("/"))


@dataclass(frozen=True, slots=True, order=True)
class Label(Compact):
    """The address of one target: a package (a folder with a BUILD file) and a name."""

    package: str
    name: str

    @classmethod
    def parse(cls, text: str, *, relative_to: str | None = None) -> Label:
        """Parse ``//pkg:name``, ``//pkg`` (= ``//pkg:<last folder>``), or ``:name`` in ``relative_to``."""
        text = text.strip()
        if text.startswith(":") and relative_to is not None:
            package, name = relative_to, text[1:]
        elif text.startswith("//"):
            body = text[2:]
            package, sep, name = body.partition(":")
            if not sep:
                name = package.rsplit("/", 1)[-1]
        else:
            raise LabelError(
                f"label {text!r} must start with '//'" + (" or ':'" if relative_to is not None else ""),
                fix="write an absolute label such as //path/to/package:name",
            )
        if not _PACKAGE.match(package) or not name or not _NAME.match(name) or package == "..." or package.endswith("/..."):
            raise LabelError(
                f"malformed label {text!r}",
                fix="labels look like //path/to/package:name, names use letters, digits and _ . + -",
            )
        if _has_dot_part(package) or name in _DOT_PARTS:
            raise LabelError(
                f"malformed label {text!r}: '.' and '..' are not package folders or target names",
                fix="name the folder and the target, e.g. //path/to/package:name",
            )
        return cls(package, name)

    def __str__(self) -> str:
        return f"//{self.package}:{self.name}"


@dataclass(frozen=True, slots=True)
class Pattern:
    """One target pattern: ``//pkg:name``, ``//pkg``, ``//pkg/...``, ``//...``; ``-`` excludes."""

    package: str
    name: str | None  # None: every target in the package (":all" / recursive)
    is_recursive: bool
    is_exclusion: bool = False

    @classmethod
    def parse(cls, text: str) -> Pattern:
        text = text.strip()
        is_exclusion = text.startswith("-")
        body = text[1:] if is_exclusion else text
        if body.startswith("//") and (body == "//..." or body.endswith("/...")):
            package = body[2:-4].rstrip("/")
            if package and (not _PACKAGE.match(package) or _has_dot_part(package)):
                raise LabelError(f"malformed pattern {text!r}", fix="write //path/... or //...")
            return cls(package, None, True, is_exclusion)
        if body.endswith(":all") or body.endswith(":*"):
            package = body[2:].rsplit(":", 1)[0]
            label = Label.parse(f"//{package}:x")
            return cls(label.package, None, False, is_exclusion)
        label = Label.parse(body)
        return cls(label.package, label.name, False, is_exclusion)

    def matches(self, label: Label) -> bool:
        if self.is_recursive:
            return not self.package or label.package == self.package or label.package.startswith(self.package + "/")
        return label.package == self.package and (self.name is None or label.name == self.name)

    @property
    def is_literal(self) -> bool:
        return not self.is_recursive and self.name is not None

    def __str__(self) -> str:
        sign = "-" if self.is_exclusion else ""
        if self.is_recursive:
            return f"{sign}//{self.package + '/' if self.package else ''}..."
        return f"{sign}//{self.package}:{self.name if self.name is not None else 'all'}"


@dataclass(frozen=True, slots=True)
class PatternSet:
    """Patterns applied in order: inclusions union, exclusions subtract."""

    patterns: tuple[Pattern, ...]

    @classmethod
    def parse(cls, texts: Iterable[str]) -> PatternSet:
        return cls(tuple(Pattern.parse(t) for t in texts))


def did_you_mean(word: str, candidates: Iterable[str], *, n: int = 3) -> str:
    """A ' (did you mean X?)' suffix, or '' when nothing is close."""
    close = difflib.get_close_matches(word, sorted(set(candidates)), n=n, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(close) + "?)"


def select(patterns: Sequence[str] | PatternSet, labels: Iterable[Label]) -> tuple[Label, ...]:
    """The labels the patterns select, sorted; a literal label that matches nothing is an error."""
    pattern_set = patterns if isinstance(patterns, PatternSet) else PatternSet.parse(patterns)
    universe = sorted(labels)
    known = set(universe)
    chosen: set[Label] = set()
    for pattern in pattern_set.patterns:
        hits = {label for label in universe if pattern.matches(label)}
        if pattern.is_literal and not hits:
            label = Label(pattern.package, pattern.name or "")
            raise UnknownLabelError(
                f"no target {label}" + did_you_mean(str(label), (str(k) for k in known)),
                fix="run `graphbuild query //...` to list the targets",
            )
        if not pattern.is_literal and not pattern.is_exclusion and not hits:
            raise UnknownLabelError(
                f"pattern {pattern} matches no target"
                + did_you_mean(f"//{pattern.package}", (f"//{k.package}" for k in known)),
                fix="check the package path; run `graphbuild query //...` to list the targets",
            )
        if pattern.is_exclusion:
            chosen -= hits
        else:
            chosen |= hits
    return tuple(sorted(chosen))
