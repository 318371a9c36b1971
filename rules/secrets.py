"""``secrets``: a cross-cutting check that scans every target's sources for committed secrets.

Registered in the ``graphbuild.checks`` entry-point group (``secrets = "rules.secrets:check"``), so the
engine asks it for the actions of every target of every kind. Each target with sources gets one
action, ``secrets`` (its sources and its BUILD file), handled by ``rules.checks.secrets:check_secrets`` (batched, pool ``default``):
cloud keys, private keys, passwords in URLs, GitHub and Slack tokens and high-entropy values assigned
to secret-named keys, with an allowlist of placeholders; findings name file:line and the rule, with
the secret masked. The rule set is documented in ``rules.checks.secrets``.

Settings of ``[rules.secrets]``: ``entropy_threshold`` (bits per character for the generic rule,
default 3.5) and ``exclude`` (globs of workspace-relative paths not to scan, default none).
Bump ``version`` whenever the rule set or the allowlist changes, so cached passes are re-checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import Field as Setting

from graphbuild.rule import CHECKS_ONLY, RuleSettings
from graphbuild.run.action import Action

__all__ = ["SecretScan", "SecretsSettings", "check"]


class SecretsSettings(RuleSettings):
    """``[rules.secrets]``: read only by the ``secrets`` action, whose request (hence cache key) holds them."""

    entropy_threshold: float = Setting(
        default=3.5,
        gt=0,
        description="Bits per character above which a value assigned to a secret-named key is flagged.",
        json_schema_extra=CHECKS_ONLY,
    )
    exclude: tuple[str, ...] = Setting(
        default=(), description="Globs of workspace-relative paths not to scan.", json_schema_extra=CHECKS_ONLY
    )


class SecretScan:
    name = "secrets"
    settings_model, settings_read = SecretsSettings, ()
    version = "2"

    def actions(self, target: Any, ctx: Any) -> Iterable[Action]:
        """One ``secrets`` action listing the target's sources and its BUILD file (none without sources)."""
        sources = list(getattr(target, "sources", ()) or ())
        if not sources:
            return ()
        build_file = getattr(getattr(target, "origin", None), "file", "")
        if build_file:  # BUILD files are nobody's source, yet they are committed text too
            sources = list(dict.fromkeys([*sources, build_file]))
        settings = ctx.rule_settings
        request = {
            "sources": sources,
            # raw blob ids: a secret pasted into a comment changes no semantic fingerprint, but must re-scan
            "blobs": {path: ctx.snapshot.blob_id(path) for path in sources},
            "entropy_threshold": float(settings.get("entropy_threshold", 3.5)),
            "exclude": list(settings.get("exclude", ())),
        }
        return (
            Action.of(target.label, "secrets", "rules.checks.secrets:check_secrets", request,
                      pool="default", timeout_s=120.0, toolchain=("python",), batch="secrets"),
        )


check = SecretScan()
