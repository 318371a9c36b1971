"""Secret references: settings name where a secret lives, never its value.

A reference is ``env:NAME`` (an environment variable) or ``secret:<store>:<path>``:
``secret:aws-sm:finsight/prod/snowflake`` is an AWS Secrets Manager secret, read with boto3 only
when a step needs it. With ``local=True`` (the embedded local backend) a ``secret:`` reference is read
from the environment variable named after its path: ``GRAPHBUILD_SECRET_FINSIGHT_PROD_SNOWFLAKE``.
Values never enter a plan, a log, the audit trail or an error message; ``Redactor`` masks any that
would, and a setting that is not a reference (a literal pasted in) is shown masked (``mask_literal``).

>>> SecretRef.parse("secret:aws-sm:finsight/prod/snowflake").local_variable
'GRAPHBUILD_SECRET_FINSIGHT_PROD_SNOWFLAKE'
>>> Redactor(["hunter2"]).redact("password=hunter2")
'password=********'
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from typing import Any

from graphbuild.errors import ConfigError

__all__ = ["Redactor", "SecretRef", "mask_literal", "resolve"]

_STORES = ("aws-sm",)
_PATH = re.compile(r"^[A-Za-z0-9/_+=.@-]+$")


def mask_literal(value: str) -> str:
    """How an error shows a value that may be a secret: its length, and its first two characters only when long.

    >>> mask_literal("hunter2-but-much-longer-123")
    "'hu…(27 chars)'"
    >>> mask_literal("hunter2")
    "'…(7 chars)'"
    """
    shown = value[:2] if len(value) >= 12 and value[:2].isprintable() else ""
    return f"'{shown}…({len(value)} char{'s' if len(value) != 1 else ''})'"


@dataclass(frozen=True, slots=True)
class SecretRef:
    store: str  # "env" or a secret store such as "aws-sm"
    path: str

    @classmethod
    def parse(cls, text: str, *, file: str | None = None) -> SecretRef:
        scheme, _, rest = text.partition(":")
        if scheme == "env" and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rest):
            return cls("env", rest)
        store, _, path = rest.partition(":")
        if scheme == "secret" and store in _STORES and _PATH.match(path):
            return cls(store, path)
        raise ConfigError(  # the text may well be the secret itself, pasted in: never echo it
            f"{mask_literal(text)} is not a secret reference",
            file=file,
            fix=f"write env:VARIABLE or secret:<store>:<path> with a store among {', '.join(_STORES)}, "
            "e.g. secret:aws-sm:finsight/prod/snowflake",
        )

    @property
    def local_variable(self) -> str:
        if self.store == "env":
            return self.path
        return "GRAPHBUILD_SECRET_" + re.sub(r"[^A-Za-z0-9]+", "_", self.path).strip("_").upper()

    def __str__(self) -> str:
        return f"env:{self.path}" if self.store == "env" else f"secret:{self.store}:{self.path}"


def resolve(ref: SecretRef, *, local: bool = False, environ: Mapping[str, str] | None = None, client: Any = None) -> str:
    """The secret's value, read now. Errors name the reference, never a value."""
    environ = os.environ if environ is None else environ
    if ref.store == "env" or local:
        value = environ.get(ref.local_variable)
        if not value:
            raise ConfigError(f"secret {ref} is not set", fix=f"export {ref.local_variable} in the environment that runs graphbuild")
        return value
    import boto3
    import botocore.exceptions

    client = client or boto3.client("secretsmanager")
    try:
        answer = client.get_secret_value(SecretId=ref.path)
    except botocore.exceptions.BotoCoreError as exc:
        raise ConfigError(f"cannot read secret {ref}: {type(exc).__name__}", fix="check the AWS credentials and region") from None
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise ConfigError(f"cannot read secret {ref}: {code}", fix="check that the secret exists and this role may read it") from None
    return answer.get("SecretString") or answer["SecretBinary"].decode()


class Redactor:
    """Masks known secret values in any text that leaves the process."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values = sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True)

    def add(self, value: str) -> None:
        self.values = sorted({*self.values, value} - {""}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, "********")
        return text

    @contextmanager
    def streams(self) -> Iterator[None]:
        """While the block runs, what Python code writes to ``sys.stdout`` and ``sys.stderr`` is redacted.

        Each ``write`` is redacted on its own (``print`` writes its text in one call); a subprocess writing to
        the file descriptors, or a logging handler holding the original stream, is not covered.
        """
        with redirect_stdout(_Redacting(sys.stdout, self)), redirect_stderr(_Redacting(sys.stderr, self)):
            yield


class _Redacting(io.TextIOBase):
    """A text stream that masks the redactor's values, then writes to ``stream``."""

    def __init__(self, stream: Any, redactor: Redactor) -> None:
        self._stream, self._redactor = stream, redactor

    def write(self, text: str) -> int:
        self._stream.write(self._redactor.redact(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return bool(self._stream.isatty())

    def fileno(self) -> int:  # a subprocess handed this stream writes to the descriptor: not redacted (see streams)
        return int(self._stream.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._stream, "encoding", None) or "utf-8")
