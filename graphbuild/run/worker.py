"""The persistent worker process: imports handlers once, serves many requests.

Protocol: one JSON object per line on stdin, ``{"handler": "module:function", "requests": [...],
"root": "...", "scratch": "...", "cache": "..." or null}``; one JSON object per line on the original stdout,
``{"results": [...], "output": "what the handler printed"}``. The handler's own stdout and
stderr (and its subprocesses') are captured per call, so they never corrupt the protocol.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from graphbuild.run.action import HandlerContext

__all__ = ["main", "resolve"]

_handlers: dict[str, Any] = {}


def resolve(spec: str) -> Any:
    """Import ``module:function`` once per process."""
    if spec not in _handlers:
        module, _, name = spec.partition(":")
        _handlers[spec] = getattr(importlib.import_module(module), name)
    return _handlers[spec]


def _call(message: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    requests = message["requests"]
    scratch = Path(message["scratch"])
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(capture.fileno(), 1)
        os.dup2(capture.fileno(), 2)
        try:
            handler = resolve(message["handler"])
            cache_dir = Path(message["cache"]) if message.get("cache") else None
            results = list(handler(requests, HandlerContext(Path(message["root"]), scratch, cache_dir)))
            if len(results) != len(requests):
                raise RuntimeError(f"{message['handler']} returned {len(results)} results for {len(requests)} requests")
        except BaseException as exc:  # a handler bug fails its actions, never the worker protocol
            if isinstance(exc, KeyboardInterrupt):
                raise
            text = traceback.format_exc()
            results = [{"status": "failed", "summary": f"{message['handler']} raised {type(exc).__name__}: {exc}", "log": text}] * len(requests)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        capture.seek(0)
        output = capture.read().decode("utf-8", "replace")
    return results, output


def main() -> None:
    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # anything printed outside a call goes to stderr, not into the protocol
    for line in sys.stdin:
        if not line.strip():
            continue
        results, output = _call(json.loads(line))
        protocol.write(json.dumps({"results": results, "output": output}, default=str) + "\n")


if __name__ == "__main__":
    main()
