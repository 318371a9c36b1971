"""All output goes through a Console: text for people, json for machines, markdown for PR comments."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["Console", "FORMATS"]

FORMATS = ("text", "json", "markdown", "dot")


@dataclass
class Console:
    format: str = "text"
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    def result(
        self,
        payload: Any,
        text: Callable[[], str],
        *,
        markdown: Callable[[], str] | None = None,
        dot: Callable[[], str] | None = None,
    ) -> None:
        """Print a command's result in the chosen format (json: the payload itself)."""
        renderers: dict[str, Callable[[], str] | None] = {
            "json": lambda: json.dumps(payload, indent=2, sort_keys=True),
            "text": text,
            "markdown": markdown or text,
            "dot": dot,
        }
        render = renderers.get(self.format)
        if render is None:
            self.warn(f"--format {self.format} does not apply here; showing text")
            render = text
        rendered = render()
        if rendered:
            self.out.write(rendered if rendered.endswith("\n") else rendered + "\n")

    def warn(self, message: str) -> None:
        self.err.write(f"warning: {message}\n")

    def error(self, message: str, payload: dict[str, Any] | None = None) -> None:
        if self.format == "json" and payload is not None:
            self.out.write(json.dumps(payload, indent=2, sort_keys=True) + "\n")
        self.err.write(f"error: {message}\n")
