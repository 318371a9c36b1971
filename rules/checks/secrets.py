"""Secret scanning of a target's sources: the rule set, the placeholder allowlist and the handler.

Rules (ids as reported):

``aws-access-key-id``       ``AKIA``/``ASIA`` followed by 16 upper-case letters or digits;
``aws-secret-access-key``   40 base64 characters assigned to a key named like ``aws_secret_access_key``,
                            or with mixed case and digits within 3 lines of an access key id;
``private-key``             a PEM ``-----BEGIN ... PRIVATE KEY-----`` header followed by a key body (a
                            header alone, as in documentation, is not a key);
``url-password``            ``scheme://user:password@host`` (the user may be empty; the password runs to the last
                            ``@`` before the host, so raw ``@``, ``#`` and ``!`` in it are found);
``github-token``            ``ghp_``/``gho_``/``ghu_``/``ghs_``/``ghr_`` tokens and ``github_pat_`` tokens;
``slack-token``             ``xoxb-``/``xoxp-``/``xoxa-``/``xoxr-``/``xoxs-`` tokens and incoming-webhook URLs;
``generic-secret``          ``password|secret|token|api_key|... = "value"`` (also ``:`` and ``=>``) whose value
                            has 16+ characters, letters and digits, and a Shannon entropy of at least
                            ``entropy_threshold`` bits per character (default 3.5).

Not reported (the allowlist, applied to the secret part of every match):

- references and templates, not values: ``${VAR}``, ``$VAR``, ``{{ var }}``, ``{password}``,
  ``%(password)s``, ``<password>``, anything holding ``env_var(``/``os.environ``/``getenv(``;
- obvious placeholders: the values ``password``, ``pass``, ``secret``, ``token``, ``user`` and the like
  (``postgresql://user:password@host`` in documentation), exactly ``example`` or one of AWS's documented
  keys (``AKIAIOSFODNN7EXAMPLE`` and its secret; a value merely *containing* "example" is still reported),
  values containing ``placeholder``, ``changeme``/``change_me``, ``dummy``, ``redacted``, ``your_``/``your-``,
  ``xxxx``, ``****`` or ``...``, and values of one repeated character. ``changeme`` is allowed on
  purpose: it marks a value to be replaced, and a weak password is not what this scanner is for;
- a line carrying the pragma ``graphbuild: allow-secret`` (for a reviewed test vector).

A ``Finding`` never holds the secret: only its rule, file, line and a masked form (at most the first
four characters of a long secret, then asterisks), so neither a summary, a log nor a ``repr`` can
print it. Binary files (a NUL byte in the first 8 KiB) are scanned too, as bytes (NUL bytes read as spaces):
a key hidden behind a NUL byte is still found, and the summary counts them. A symlink is scanned as its
link text, what git stores for it; its target is never read.
"""

from __future__ import annotations

import bisect
import fnmatch
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphbuild.errors import WorkspaceError
from graphbuild.paths import read_workspace_file
from graphbuild.run.action import HandlerContext

__all__ = [
    "DEFAULT_ENTROPY_THRESHOLD",
    "PRAGMA",
    "RULES",
    "Finding",
    "Rule",
    "check_secrets",
    "entropy",
    "is_placeholder",
    "mask",
    "scan_bytes",
    "scan_text",
]

DEFAULT_ENTROPY_THRESHOLD = 3.5
PRAGMA = "graphbuild: allow-secret"
_BINARY_PROBE = 8192


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    pattern: re.Pattern[str]  # the group named "secret" is what gets masked and allowlisted


def _rule(id_: str, description: str, pattern: str, flags: int = 0) -> Rule:
    return Rule(id_, description, re.compile(pattern, flags))


_SECRET_WORD = r"(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|private[_-]?key|client[_-]?secret)"
_ASSIGN = r"""["']?\s*(?::=|=>|(?<![=!<>])=(?![=>])|:(?!:))\s*"""

RULES: tuple[Rule, ...] = (  # the specific rules first: a value matched by two rules is reported once, by the first
    _rule("aws-access-key-id", "AWS access key id", r"(?<![A-Za-z0-9])(?P<secret>(?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Za-z0-9])"),
    _rule("aws-secret-access-key", "AWS secret access key",
          r"(?i:aws_?secret_?(?:access_?)?key)" + _ASSIGN + r"""["']?(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"""),
    _rule("private-key", "private key",
          r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:\\n|\s|[A-Za-z-]+: [^\n]*\n)*(?P<secret>[A-Za-z0-9+/=]{32,})"),
    _rule("github-token", "GitHub token",
          r"(?<![A-Za-z0-9_])(?P<secret>gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})(?![A-Za-z0-9_])"),
    _rule("slack-token", "Slack token", r"(?<![A-Za-z0-9-])(?P<secret>xox[abposr]-[A-Za-z0-9-]{10,250})"),
    _rule("slack-token", "Slack webhook URL",
          r"https://hooks\.slack\.com/(?:services|workflows)/(?P<secret>[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]{16,})"),
    _rule("url-password", "password in a URL",
          # the password runs to the last '@' before the host: raw '@', '#' and '!' in it are still a password
          r"""\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/?#@'"`<>]{0,128}:(?P<secret>[^\s/?'"`<>]{1,256})@[A-Za-z0-9\[]"""),
    _rule("generic-secret", "high-entropy secret assigned to a secret-named key",
          r"(?<![A-Za-z0-9_.-])(?i:[A-Za-z0-9_.-]*" + _SECRET_WORD + r")" + _ASSIGN
          + r"""(?:(?P<q>["'])(?P<secret>[^"'\s]{16,256})(?P=q)|(?P<bare>[A-Za-z0-9+/=_-]{16,256})[ \t]*$)""", re.M),
)

_NEAR_ACCESS_KEY = re.compile(r"(?<![A-Za-z0-9/+=])(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])")
_REFERENCE = re.compile(r"^\$[A-Za-z_{(]|^%\(|^\{[^{}]*\}$|^<[^<>]*>$|\$\{|\{\{|\}\}|env_var\(|os\.environ|getenv\(")
_PLACEHOLDER_VALUES = frozenset({"password", "passwd", "pass", "pwd", "secret", "token", "user", "username", "example"})
# documentation values, exactly: a real secret that merely contains "example" is still a secret
_DOCUMENTED_EXAMPLES = frozenset({
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # AWS's documented key pair
    "AKIAI44QH8DHBEXAMPLE", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",  # AWS's second documented pair
})
_PLACEHOLDER_WORDS = ("placeholder", "changeme", "change_me", "change-me", "dummy", "redacted",
                      "your_", "your-", "xxxx", "****", "...")


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    if not value:
        return 0.0
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def is_placeholder(value: str) -> bool:
    """A reference, a template or an obvious placeholder rather than a secret value."""
    lowered = value.lower()
    return (
        not value
        or len(set(value)) == 1
        or lowered in _PLACEHOLDER_VALUES
        or value in _DOCUMENTED_EXAMPLES
        or bool(_REFERENCE.search(value))
        or any(word in lowered for word in _PLACEHOLDER_WORDS)
    )


def mask(secret: str) -> str:
    """At most the first four characters of a long secret, then asterisks; never the whole of it."""
    if set(secret) <= {"*"}:
        return "[masked]"
    keep = 4 if len(secret) >= 16 else 2 if len(secret) >= 10 else 0
    if set(secret[keep:]) <= {"*"}:  # the shown prefix would be all there is
        keep = 0
    return secret[:keep] + "*" * max(6, min(16, len(secret) - keep))


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """One suspected secret: where, which rule, and the secret masked (the secret itself is not kept)."""

    path: str
    line: int
    rule: str
    masked: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.masked}"


def _is_secret(rule: Rule, match: re.Match[str], threshold: float) -> tuple[str, str] | None:
    """(secret, masked) for a match worth reporting, None for allowlisted or low-entropy values."""
    secret = match.group("secret") if rule.id != "generic-secret" else match.group("secret") or match.group("bare")
    if not secret or is_placeholder(secret):
        return None
    if rule.id == "generic-secret":
        has_letter, has_digit = any(c.isalpha() for c in secret), any(c.isdigit() for c in secret)
        if not (has_letter and has_digit) or "://" in secret or entropy(secret) < threshold:
            return None
        key = match.group(0)[: _secret_start(match) - match.start()]
        name = re.split(r"""["'\s:=>]""", key.strip(), maxsplit=1)[0]
        return secret, f"{name}={mask(secret)}"
    if rule.id == "private-key":
        header = match.group(0).split("-----", 2)[1]
        return secret, f"-----{header}----- {mask(secret)}"
    return secret, mask(secret)


def _secret_start(match: re.Match[str]) -> int:
    for group in ("secret", "bare"):
        if group in match.re.groupindex and match.group(group) is not None:
            return match.start(group)
    return match.start()


def _matches(text: str, threshold: float = DEFAULT_ENTROPY_THRESHOLD) -> Iterator[tuple[int, str, str, str]]:
    """(line, rule id, secret, masked) of every match; the secret is for this module's use only."""
    starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(offset: int) -> int:
        return bisect.bisect_right(starts, offset)

    lines = text.split("\n")
    seen: set[tuple[int, str]] = set()
    key_lines: list[int] = []
    for rule in RULES:
        for match in rule.pattern.finditer(text):
            line = line_of(match.start() if rule.id == "private-key" else _secret_start(match))  # a key: its header
            if PRAGMA in lines[line - 1]:
                continue
            found = _is_secret(rule, match, threshold)
            if found is None or (line, found[0]) in seen:
                continue
            seen.add((line, found[0]))
            if rule.id == "aws-access-key-id":
                key_lines.append(line)
            yield line, rule.id, *found
    for key_line in key_lines:  # a secret access key is the 40-character token next to its key id
        start = starts[max(0, key_line - 4)]  # from 3 lines above to 3 lines below
        stop = starts[key_line + 3] if key_line + 3 < len(starts) else len(text)
        for match in _NEAR_ACCESS_KEY.finditer(text, start, stop):
            secret, line = match.group("secret"), line_of(match.start())
            if (line, secret) in seen or PRAGMA in lines[line - 1] or is_placeholder(secret):
                continue
            if any(c.isupper() for c in secret) and any(c.islower() for c in secret) and any(c.isdigit() for c in secret) \
                    and entropy(secret) >= 4.0:
                seen.add((line, secret))
                yield line, "aws-secret-access-key", secret, mask(secret)


def scan_text(text: str, path: str = "<text>", threshold: float = DEFAULT_ENTROPY_THRESHOLD) -> list[Finding]:
    """The findings in one text, sorted by line."""
    return sorted({Finding(path, line, rule, masked) for line, rule, _, masked in _matches(text, threshold)})


def is_binary(data: bytes) -> bool:
    return b"\x00" in data[:_BINARY_PROBE]


def scan_bytes(data: bytes, path: str = "<bytes>", threshold: float = DEFAULT_ENTROPY_THRESHOLD) -> list[Finding]:
    """The findings in a file's bytes (UTF-8, undecodable bytes replaced, NUL bytes read as spaces), binary or not."""
    return scan_text(data.replace(b"\0", b" ").decode("utf-8", errors="replace"), path, threshold)


# ---------------------------------------------------------------------------------------------
# the handler


def _scan_request(request: Mapping[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    threshold = float(request.get("entropy_threshold", DEFAULT_ENTROPY_THRESHOLD))
    excluded = tuple(request.get("exclude", ()))
    findings: list[Finding] = []
    scanned, binary, skipped, unreadable = 0, [], [], []
    for path in request.get("sources", ()):
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in excluded):
            skipped.append(path)
            continue
        try:  # never through a symlink: a link is scanned as its text, as git holds it
            data = read_workspace_file(ctx.root, path, symlinks="link-text")
        except WorkspaceError as exc:
            unreadable.append(f"{exc.where or path}: {exc.message}")
            continue
        except OSError as exc:
            unreadable.append(f"{path}: {exc.strerror or exc}")
            continue
        if is_binary(data):
            binary.append(path)
        scanned += 1
        findings += scan_bytes(data, path, threshold)
    notes = [f"{len(binary)} of them binary, scanned as bytes"] if binary else []
    notes += [f"{len(skipped)} excluded by [rules.secrets] exclude"] if skipped else []
    log = "\n".join([*map(str, findings), *(f"scanned as bytes (binary): {p}" for p in binary),
                     *(f"not scanned (excluded): {p}" for p in skipped), *(f"unreadable: {p}" for p in unreadable)])
    suffix = f" ({'; '.join(notes)})" if notes else ""
    if findings:
        first = findings[0]
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        return {"status": "failed", "log": log, "artifacts": {},
                "summary": f"secret found: {first.path}:{first.line}: {first.rule} {first.masked}{more}; "
                           f"remove it, rotate it, and read it from Secrets Manager or the environment"}
    if unreadable:
        return {"status": "failed", "summary": f"secrets: cannot read {unreadable[0]}", "log": log, "artifacts": {}}
    return {"status": "passed", "summary": f"secrets: no secrets in {scanned} file{'s' if scanned != 1 else ''}{suffix}",
            "log": log, "artifacts": {}}


def check_secrets(requests: list[dict], ctx: HandlerContext) -> list[dict]:
    """Scan each request's ``sources`` (workspace-relative) with the rule set above."""
    return [_scan_request(request, ctx) for request in requests]
