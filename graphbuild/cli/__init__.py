"""The thin command-line shell over the graphbuild library."""

from graphbuild.cli.main import main

__all__ = ["main"]
